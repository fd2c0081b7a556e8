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
  connections: Array<{ remote: string; id: number; received: number; sent: number }>;
  uptimeMs: number;
  options: { port: unknown; dataDir: string; tickTimeMs: number; maxFrameBytes: number };
}

const WORDS: ReadonlySet<string> = new Set(['ruok', 'srvr', 'stat', 'mntr', 'conf', 'isro', 'envi', 'cons', 'wchs', 'dump', 'crst', 'srst', 'dirs', 'wchc', 'wchp', 'gtmk', 'stmk']);

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
    `Node count: ${s.core.nodeCount}\n`
  );
}

export function fourLetterWordReply(word: string, s: FourLetterState): string {
  switch (word) {
    case 'ruok':
      return 'imok';
    case 'isro':
      return 'rw';
    case 'srvr':
      return `${VERSION_LINE}\n${srvrBody(s)}`;
    case 'stat': {
      const clients = s.connections.map((c) => ` /${c.remote}[1](queued=0,recved=${c.received},sent=${c.sent})\n`).join('');
      return `${VERSION_LINE}\nClients:\n${clients}\n${srvrBody(s)}`;
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
        ['zk_znode_count', s.core.nodeCount],
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
    case 'conf': {
      const port = s.options.port && typeof s.options.port === 'object' ? (s.options.port as { port: number }).port : '';
      return (
        `clientPort=${port}\n` +
        `dataDir=${s.options.dataDir}\n` +
        `tickTime=${s.options.tickTimeMs}\n` +
        `jute.maxbuffer=${s.options.maxFrameBytes}\n` +
        'serverId=0\n'
      );
    }
    default:
      return `${word} is not executed because it is not in the whitelist.\n`;
  }
}
