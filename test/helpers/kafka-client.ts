/** A raw Kafka-protocol connection for tests: Samsa's own codecs, one request at a time. */
import type { Socket } from 'node:net';
import { kafka } from '@samsa/protocol';
import { expect } from 'vitest';
import { withTimeout } from './wait.js';

const { KAFKA_APIS, encodeRequest, decodeResponse } = kafka;

export class KafkaTestClient {
  private buffered = Buffer.alloc(0);
  private pending: ((frame: Buffer) => void) | undefined;
  private correlationId = 0;

  constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      if (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
        const frame = this.buffered.subarray(4, 4 + this.buffered.readInt32BE(0));
        this.buffered = this.buffered.subarray(4 + frame.length);
        this.pending?.(frame);
      }
    });
  }

  close(): void {
    this.socket.destroy();
  }

  /** Sends one request and decodes its answer, checking the correlation id. */
  async send<T>(apiKey: number, apiVersion: number, body: object): Promise<T> {
    const api = KAFKA_APIS.get(apiKey)!;
    const correlationId = ++this.correlationId;
    const frame = new Promise<Buffer>((resolve) => {
      this.pending = resolve;
    });
    this.socket.write(encodeRequest(api, { apiVersion, correlationId, clientId: 'apis-test' }, body));
    const answer = await withTimeout(frame, 15_000, `${api.name} v${apiVersion}`);
    const decoded = decodeResponse<T>(api, apiVersion, answer);
    expect(decoded.correlationId).toBe(correlationId);
    return decoded.body;
  }
}
