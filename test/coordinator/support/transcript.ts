/**
 * A normalized record of what one conformance case observed on one target. Values that legitimately
 * differ between ZooKeeper and the coordinator are recorded as relations instead of raw values:
 * - zxids become their dense rank among all zxids seen in the case ('z0' < 'z1' < ...), which keeps
 *   order and equality (a multi's ops share one zxid; pzxid = the last child change) but not gaps;
 * - session ids become the label of the client that owns them ('A', 'B', 'none' for 0);
 * - times become the relation between ctime and mtime;
 * - the case's base path becomes '<base>'.
 * Two targets agree on a case when their finalized transcripts are deep-equal.
 */
import type { Stat } from '../../helpers/zk-client.js';
import type { WireStat } from '../../helpers/zk-wire.js';

class Zxid {
  constructor(readonly value: bigint) {}
}

export interface NormalizedStat {
  czxid: Zxid | string;
  mzxid: Zxid | string;
  pzxid: Zxid | string;
  times: 'ctime<=mtime' | 'ctime>mtime';
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: string;
  dataLength: number;
  numChildren: number;
}

export type TranscriptEntry = [step: string, value: unknown];

export class Transcript {
  private readonly entries: TranscriptEntry[] = [];
  private readonly sessionLabels = new Map<bigint, string>();

  constructor(private readonly base: string) {}

  /** Names a session so that ephemeralOwner fields read as its label. */
  labelSession(sessionId: bigint, label: string): void {
    this.sessionLabels.set(sessionId, label);
  }

  private sealed = false;

  record(step: string, value: unknown = null): void {
    if (!this.sealed) this.entries.push([step, value]);
  }

  /** Ignore later records: what happens while a case's clients are being closed is not part of it. */
  seal(): void {
    this.sealed = true;
  }

  /** A zxid to be replaced by its rank at `finalize()`. */
  zxid(value: bigint): Zxid {
    return new Zxid(value);
  }

  stat(stat: Stat | WireStat | null | undefined): NormalizedStat | null {
    if (!stat) return null;
    const long = (value: Buffer | bigint) => (typeof value === 'bigint' ? value : value.readBigInt64BE(0));
    const owner = long(stat.ephemeralOwner);
    return {
      czxid: new Zxid(long(stat.czxid)),
      mzxid: new Zxid(long(stat.mzxid)),
      pzxid: new Zxid(long(stat.pzxid)),
      times: long(stat.ctime) <= long(stat.mtime) ? 'ctime<=mtime' : 'ctime>mtime',
      version: stat.version,
      cversion: stat.cversion,
      aversion: stat.aversion,
      ephemeralOwner: owner === 0n ? 'none' : (this.sessionLabels.get(owner) ?? 'unknown-session'),
      dataLength: stat.dataLength,
      numChildren: stat.numChildren,
    };
  }

  /** The entries with zxids ranked and the base path abstracted; plain JSON-like data. */
  finalize(): TranscriptEntry[] {
    const seen = new Set<bigint>();
    collectZxids(this.entries, seen);
    const ranks = new Map(
      [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((value, index) => [value, `z${index}`]),
    );
    return normalize(this.entries, ranks, this.base) as TranscriptEntry[];
  }
}

function collectZxids(value: unknown, into: Set<bigint>): void {
  if (value instanceof Zxid) into.add(value.value);
  else if (Array.isArray(value)) for (const item of value) collectZxids(item, into);
  else if (value !== null && typeof value === 'object')
    for (const item of Object.values(value)) collectZxids(item, into);
}

function normalize(value: unknown, ranks: Map<bigint, string>, base: string): unknown {
  if (value instanceof Zxid) return ranks.get(value.value);
  if (typeof value === 'string') return value.split(base).join('<base>');
  if (typeof value === 'bigint') return `${value}n`;
  if (Buffer.isBuffer(value)) return `bytes:${value.toString('utf8')}`;
  if (Array.isArray(value)) return value.map((item) => normalize(item, ranks, base));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, normalize(item, ranks, base)]));
  }
  return value;
}
