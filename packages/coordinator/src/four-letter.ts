/** ZooKeeper's four-letter words (ruok, srvr, stat, mntr, conf, isro), formatted as 3.8 formats them. */
import type { CoordinatorCore } from './core.js';
import { SERVER_VERSION } from './protocol.js';

export interface ServerStats {
  packetsReceived: number;
  packetsSent: number;
}

export interface FourLetterState {
  core: CoordinatorCore;
  stats: ServerStats;
  connections: Array<{ remote: string; id: number; received: number; sent: number; sessionId: bigint | undefined }>;
  uptimeMs: number;
  options: {
    port: number;
    dataDir: string;
    tickTimeMs: number;
    minSessionTimeoutMs: number;
    maxSessionTimeoutMs: number;
    maxFrameBytes: number;
    dataDirBytes: number;
  };
  /** Resets the packet counters (`srst`, `crst`). */
  resetStats: () => void;
}

const hexId = (id: bigint) => `0x${BigInt.asUintN(64, id).toString(16)}`;

function connectionLines(s: FourLetterState): string {
  return s.connections
    .map((c) => {
      const sid = c.sessionId === undefined ? '' : `,sid=${hexId(c.sessionId)}`;
      return ` /${c.remote}[1](queued=0,recved=${c.received},sent=${c.sent}${sid})\n`;
    })
    .join('');
}

const WORDS: ReadonlySet<string> = new Set([
  'ruok',
  'srvr',
  'stat',
  'mntr',
  'conf',
  'isro',
  'envi',
  'cons',
  'wchs',
  'dump',
  'crst',
  'srst',
  'dirs',
  'wchc',
  'wchp',
]);

export function isFourLetterWord(word: string): boolean {
  return WORDS.has(word);
}

const VERSION_LINE = `Zookeeper version: ${SERVER_VERSION}, built on 1970-01-01 00:00 UTC`;

function srvrBody(s: FourLetterState): string {
  return (
    'Latency min/avg/max: 0/0.0/0\n' +
    `Received: ${s.stats.packetsReceived}\n` +
    `Sent: ${s.stats.packetsSent}\n` +
    `Connections: ${s.connections.length}\n` +
    'Outstanding: 0\n' +
    `Zxid: 0x${s.core.zxid.toString(16)}\n` +
    'Mode: standalone\n' +
    `Node count: ${zookeeperNodeCount(s)}\n`
  );
}

/** ZooKeeper's DataTree holds the root under both "" and "/", and its node count includes both. */
function zookeeperNodeCount(s: FourLetterState): number {
  return s.core.nodeCount + 1;
}

export function fourLetterWordReply(word: string, s: FourLetterState): string {
  switch (word) {
    case 'ruok':
      return 'imok';
    case 'isro':
      return 'rw';
    case 'srvr':
      return `${VERSION_LINE}\n${srvrBody(s)}`;
    case 'stat':
      return `${VERSION_LINE}\nClients:\n${connectionLines(s)}\n${srvrBody(s)}`;
    case 'cons':
      return `${connectionLines(s)}\n`;
    case 'crst':
      s.resetStats();
      return 'Connection stats reset.\n';
    case 'srst':
      s.resetStats();
      return 'Server stats reset.\n';
    case 'dirs':
      return `datadir_size: ${s.options.dataDirBytes}\nlogdir_size: ${s.options.dataDirBytes}\n`;
    case 'envi':
      return (
        'Environment:\n' +
        `zookeeper.version=${SERVER_VERSION}, built on 1970-01-01 00:00 UTC\n` +
        `node.version=${process.version}\n` +
        `os.name=${process.platform}\n` +
        `os.arch=${process.arch}\n` +
        `user.dir=${process.cwd()}\n`
      );
    case 'wchs': {
      const byConn = s.core.watchesByConnection();
      const paths = new Set(byConn.flatMap((c) => c.paths));
      return `${byConn.length} connections watching ${paths.size} paths\nTotal watches:${s.core.watchCount}\n`;
    }
    case 'wchc':
      return `${s.core
        .watchesByConnection()
        .map((c) => `${hexId(c.sessionId)}\n${c.paths.map((p) => `\t${p}\n`).join('')}`)
        .join('\n')}\n`;
    case 'wchp': {
      const byPath = new Map<string, bigint[]>();
      for (const c of s.core.watchesByConnection())
        for (const p of c.paths) byPath.set(p, [...(byPath.get(p) ?? []), c.sessionId]);
      return `${[...byPath].map(([p, ids]) => `${p}\n${ids.map((id) => `\t${hexId(id)}\n`).join('')}`).join('')}\n`;
    }
    case 'dump': {
      const sessions = s.core.ephemeralsBySession();
      const withEphemerals = sessions.filter((x) => x.paths.length > 0);
      return (
        'SessionTracker dump:\n' +
        `Session Sets (${sessions.length})/(${sessions.length}):\n` +
        sessions.map((x) => `${hexId(x.sessionId)} expire at ${new Date(x.expiresAtMs).toUTCString()}\n`).join('') +
        'ephemeral nodes dump:\n' +
        `Sessions with Ephemerals (${withEphemerals.length}):\n` +
        withEphemerals.map((x) => `${hexId(x.sessionId)}:\n${x.paths.map((p) => `\t${p}\n`).join('')}`).join('') +
        'Connections dump:\n' +
        connectionLines(s)
      );
    }
    case 'mntr': {
      const rows: Array<[string, string | number]> = [
        ['zk_version', `${SERVER_VERSION}, built on 1970-01-01 00:00 UTC`],
        ['zk_server_state', 'standalone'],
        ['zk_ephemerals_count', s.core.ephemeralCount],
        ['zk_num_alive_connections', s.connections.length],
        ['zk_avg_latency', '0.0'],
        ['zk_max_latency', 0],
        ['zk_min_latency', 0],
        ['zk_outstanding_requests', 0],
        ['zk_znode_count', zookeeperNodeCount(s)],
        ['zk_global_sessions', s.core.sessionCount],
        ['zk_local_sessions', 0],
        ['zk_watch_count', s.core.watchCount],
        ['zk_packets_sent', s.stats.packetsSent],
        ['zk_packets_received', s.stats.packetsReceived],
        ['zk_approximate_data_size', s.core.approximateDataSize()],
        ['zk_uptime', s.uptimeMs],
      ];
      return rows.map(([k, v]) => `${k}\t${v}\n`).join('');
    }
    case 'conf':
      return (
        `clientPort=${s.options.port}\n` +
        `dataDir=${s.options.dataDir}\n` +
        `dataLogDir=${s.options.dataDir}\n` +
        `tickTime=${s.options.tickTimeMs}\n` +
        `minSessionTimeout=${s.options.minSessionTimeoutMs}\n` +
        `maxSessionTimeout=${s.options.maxSessionTimeoutMs}\n` +
        `jute.maxbuffer=${s.options.maxFrameBytes}\n` +
        'serverId=0\n'
      );
    default:
      return `${word} is not executed because it is not in the whitelist.\n`;
  }
}
