// What the cleaner benchmarks share for the machine's I/O: settling the kernel's writeback before a
// measured phase, and what a process and its disk did during one (Linux /proc; zeros elsewhere).
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';

const MiB = 1024 * 1024;

/** The machine's dirty and writeback pages (/proc/meminfo Dirty + Writeback), in bytes; 0 off Linux. */
export function dirtyPageBytes() {
  try {
    const meminfo = readFileSync('/proc/meminfo', 'utf8');
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? 0);
    return (kb('Dirty') + kb('Writeback')) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Syncs and waits until the machine's dirty and writeback pages are under `boundBytes`, and then,
 * given `disk`, until it discarded nothing for a second (with ext4's `discard` mount option a deleted
 * file's blocks are discarded after the journal commits); gives up after `timeoutMs` (other work may
 * keep writing and deleting). So a phase starts without the kernel's writeback of what was written
 * before it, or the discards of what was deleted. Returns what it found, how long it took, what was left.
 */
export async function settleWriteback(boundBytes, timeoutMs, disk) {
  const started = performance.now();
  const found = dirtyPageBytes();
  const discards = { from: diskCounters(disk).sectorsDiscarded };
  for (;;) {
    await new Promise((resolve) => execFile('sync', () => resolve()));
    const bytes = dirtyPageBytes();
    const ms = performance.now() - started;
    if (bytes <= boundBytes || ms > timeoutMs) {
      const timedOut = bytes > boundBytes || !(await discardsQuiet(disk, started + timeoutMs));
      const discardedBytes = (diskCounters(disk).sectorsDiscarded - discards.from) * 512;
      return { found, ms: performance.now() - started, bytes, discardedBytes, timedOut };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Resolves true once `disk` discarded nothing for a second, false at `deadlineMs`. */
async function discardsQuiet(disk, deadlineMs) {
  if (disk === undefined) return true;
  let last = diskCounters(disk).sectorsDiscarded;
  let quietSince = performance.now();
  while (performance.now() - quietSince < 1000) {
    if (performance.now() > deadlineMs) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = diskCounters(disk).sectorsDiscarded;
    if (now !== last) quietSince = performance.now();
    last = now;
  }
  return true;
}

export function formatSettle(s) {
  return (
    `${(s.found / MiB).toFixed(0)} MB in ${(s.ms / 1000).toFixed(1)} s, to ${(s.bytes / MiB).toFixed(0)} MB` +
    (s.discardedBytes > 0 ? ` (${(s.discardedBytes / MiB).toFixed(0)} MB discarded meanwhile)` : '') +
    (s.timedOut ? ' (timed out)' : '')
  );
}

/** The disk (major minor) that holds `path`, to find its /proc/diskstats line. */
export function diskOf(path) {
  try {
    const dev = statSync(path).dev;
    return `${Math.floor(dev / 256) & 0xfff} ${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`;
  } catch {
    return undefined;
  }
}

/** The disk's sectors read and written and its ms busy so far (/proc/diskstats), all processes together. */
export function diskCounters(disk) {
  try {
    const row = readFileSync('/proc/diskstats', 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((f) => `${f[0]} ${f[1]}` === disk);
    if (row) {
      // Discards (Linux 4.18 on): with ext4's `discard` mount option, a deleted file's blocks are
      // discarded when the journal commits, and the next commit waits for that.
      const [sectorsDiscarded, discardMs] = [Number(row[16] ?? 0), Number(row[17] ?? 0)];
      return {
        sectorsRead: Number(row[5]),
        sectorsWritten: Number(row[9]),
        busyMs: Number(row[12]),
        sectorsDiscarded,
        discardMs,
      };
    }
  } catch {
    // not Linux
  }
  return { sectorsRead: 0, sectorsWritten: 0, busyMs: 0, sectorsDiscarded: 0, discardMs: 0 };
}

/** A process's bytes read from and written to storage so far (/proc/<pid>/io; page-cache hits not counted). */
export function processIo(pid = 'self') {
  try {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { readBytes: field('read_bytes'), writeBytes: field('write_bytes') };
  } catch {
    return { readBytes: 0, writeBytes: 0 };
  }
}

/** A process's CPU time so far (user + system), in ms (/proc/<pid>/stat; clock ticks of 10 ms). */
export function processCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** The disk's share of time busy and MB/s read and written between two diskCounters. */
export function diskRates(from, to, ms) {
  return {
    diskBusy: (to.busyMs - from.busyMs) / ms,
    diskReadMBps: ((to.sectorsRead - from.sectorsRead) * 512) / MiB / (ms / 1000),
    diskWriteMBps: ((to.sectorsWritten - from.sectorsWritten) * 512) / MiB / (ms / 1000),
    discardedMB: ((to.sectorsDiscarded - from.sectorsDiscarded) * 512) / MiB,
    discardMs: to.discardMs - from.discardMs,
  };
}

export function formatDisk(r) {
  return (
    `the disk ${(100 * r.diskBusy).toFixed(0)}% busy ` +
    `(${r.diskReadMBps.toFixed(1)} / ${r.diskWriteMBps.toFixed(1)} MB/s read / written, ` +
    `${r.discardedMB.toFixed(0)} MB discarded in ${r.discardMs} ms, all processes)`
  );
}
