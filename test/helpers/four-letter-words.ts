import { connect } from 'node:net';
import { withTimeout } from './wait.js';

/**
 * Sends a ZooKeeper four-letter word ('ruok', 'srvr', 'stat', 'mntr', ...) on the client port and returns
 * everything the server writes before it closes the connection.
 */
export function fourLetterWord(host: string, port: number, word: string, timeoutMs = 5_000): Promise<string> {
  const reply = new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host, port }, () => socket.write(word));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', (error) => {
      // A server may reset the connection right after answering; keep what it said.
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString('utf8'));
      else reject(error);
    });
    socket.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
  return withTimeout(reply, timeoutMs, `'${word}' from ${host}:${port}`);
}

/** Parses `mntr` output (tab-separated key/value lines) into a map. */
export function parseMntr(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) entries.set(line.slice(0, tab), line.slice(tab + 1).trim());
  }
  return entries;
}

/** Parses `srvr`/`stat` output ("Key: value" lines) into a map. */
export function parseSrvr(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith(' ')) entries.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return entries;
}
