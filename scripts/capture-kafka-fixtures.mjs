#!/usr/bin/env node
// Records the Kafka requests real clients send, as fixtures for packages/protocol/test/kafka.
// Usage: node scripts/capture-kafka-fixtures.mjs LISTEN_PORT TARGET_HOST:PORT OUT.json CLIENT_NAME
// A proxy on 127.0.0.1:LISTEN_PORT forwards to a Samsa Kafka listener and writes every request frame
// (hex, with its api key and version) to OUT.json when stopped (SIGINT/SIGTERM). Point the client at
// the proxy with a single bootstrap; the broker advertises its own address, so later connections
// bypass the proxy: the bootstrap connection's requests (ApiVersions, Metadata, and with one broker
// holding every leader, produce and fetch when the client reuses it) are what gets recorded.
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

const [listenPort, target, out, client] = process.argv.slice(2);
const [host, port] = target.split(':');
const frames = [];

createServer((socket) => {
  const upstream = connect({ host, port: Number(port) });
  let buffered = Buffer.alloc(0);
  socket.on('data', (data) => {
    upstream.write(data);
    buffered = Buffer.concat([buffered, data]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
      const size = buffered.readInt32BE(0);
      const frame = buffered.subarray(4, 4 + size);
      frames.push({
        client,
        apiKey: frame.readInt16BE(0),
        apiVersion: frame.readInt16BE(2),
        hex: frame.toString('hex'),
      });
      buffered = buffered.subarray(4 + size);
    }
  });
  upstream.on('data', (data) => socket.write(data));
  socket.on('close', () => upstream.destroy());
  upstream.on('close', () => socket.destroy());
  socket.on('error', () => undefined);
  upstream.on('error', () => undefined);
}).listen(Number(listenPort), '127.0.0.1');

const stop = () => {
  writeFileSync(out, `${JSON.stringify(frames, null, 1)}\n`);
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
