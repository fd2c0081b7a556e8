import type { Socket } from 'node:net';
import { SamsaError } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import type { Logger } from 'pino';

/** What serving one request yields: the response's chunks, or nothing (acks=0 Produce). */
export interface Served {
  readonly chunks: readonly Buffer[] | null;
  /** Called once the chunks are on the socket (or dropped): returns read buffers to their pool. */
  readonly release?: () => void;
  /**
   * Close the connection once this response (if any) and those before it are written; later requests
   * go unanswered. Kafka's answer to an acks=0 Produce that failed: the client expects no response,
   * and only a closed connection makes it refresh its metadata.
   */
  readonly closeConnection?: boolean;
}

export type ServeRequest = (request: kafka.DecodedRequest, signal: AbortSignal) => Promise<Served>;

export interface ConnectionOptions {
  /** socket.request.max.bytes: a frame announcing more closes the connection before any of it is buffered. */
  readonly maxRequestBytes: number;
  /** Requests served at once; past it the socket is paused (backpressure instead of a growing queue). */
  readonly maxInFlight: number;
  /**
   * Request bytes in service at once (default maxRequestBytes): a frame that would go past it waits
   * until earlier requests are served, unless nothing is in service (so any frame within
   * maxRequestBytes is served eventually).
   */
  readonly maxInFlightBytes?: number;
  readonly supported: kafka.SupportedVersions;
  readonly serve: ServeRequest;
  /**
   * Requests served one at a time on a connection, each after the previous one is served (Fetch: a
   * client pipelining fetches would otherwise hold that many responses of up to fetch.max.bytes).
   */
  readonly oneAtATime?: (request: kafka.DecodedRequest) => boolean;
  readonly logger: Logger;
}

interface Slot {
  done: boolean;
  served: Served | undefined;
}

const SIZE_BYTES = 4;

/**
 * One client connection: Kafka's framing (a 4-byte size, then the request), requests served as they
 * arrive (several at once: clients pipeline), responses written strictly in request order, each with
 * one corked series of writes (Node turns them into a single writev, so stored record bytes go to the
 * socket without being copied into a response buffer). A frame that does not decode closes the
 * connection after the responses before it are written; the broker is never affected.
 */
export class KafkaConnection {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** Size of the frame being read, once its prefix is in. */
  private frameBytes = -1;
  private readonly queue: Slot[] = [];
  private readonly abort = new AbortController();
  private closing = false;
  /** The client shut its side down: what is buffered is served, then the socket ends. */
  private inputEnded = false;
  /** A response closed the connection (Served.closeConnection): nothing after it is written. */
  private cutShort = false;
  private waitingForDrain = false;
  /** Bytes of the requests being served (their frames are held until they are). */
  private inServiceBytes = 0;
  /** The last of the one-at-a-time requests (see ConnectionOptions.oneAtATime), served or not. */
  private lastOneAtATime: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;

  constructor(
    private readonly socket: Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.log = options.logger.child({ remote: `${socket.remoteAddress}:${socket.remotePort}` });
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('drain', () => {
      this.waitingForDrain = false;
      this.flush();
    });
    socket.on('error', (err) => this.log.debug({ err }, 'kafka connection error'));
    // The server is half-open: a client that sends its last requests and shuts its side down still
    // gets the responses; the socket ends once they are written. Long polls are cut short (they
    // answer with what they have): the client sends nothing more, and one that vanished must not
    // hold waits until they time out.
    socket.on('end', () => {
      this.inputEnded = true;
      this.abort.abort();
      this.flush();
    });
    socket.on('close', () => {
      this.closing = true;
      this.abort.abort();
      // Responses that will never be written still hold read buffers: hand them back. Requests still
      // being served release theirs when they finish (the socket is destroyed by then).
      for (const slot of this.queue.splice(0)) if (slot.done) slot.served?.release?.();
    });
  }

  private onData(data: Buffer): void {
    if (this.closing) return;
    this.chunks.push(data);
    this.buffered += data.length;
    this.pump();
  }

  /**
   * Serves the buffered frames while fewer than maxInFlight requests are in service; the rest wait
   * in the buffer (and the socket is paused) until responses go out.
   */
  private pump(): void {
    while (!this.closing && this.queue.length < this.options.maxInFlight) {
      if (this.frameBytes < 0) {
        if (this.buffered < SIZE_BYTES) return;
        this.frameBytes = this.take(SIZE_BYTES).readInt32BE(0);
        if (this.frameBytes < 0 || this.frameBytes > this.options.maxRequestBytes) {
          this.fail(
            new kafka.KafkaProtocolError(
              'oversized',
              `frame of ${this.frameBytes} bytes is over socket.request.max.bytes (${this.options.maxRequestBytes})`,
            ),
          );
          return;
        }
      }
      const budget = this.options.maxInFlightBytes ?? this.options.maxRequestBytes;
      if (this.inServiceBytes > 0 && this.inServiceBytes + this.frameBytes > budget) {
        this.socket.pause();
        return;
      }
      if (this.buffered < this.frameBytes) return;
      const frame = this.take(this.frameBytes);
      this.frameBytes = -1;
      this.onFrame(frame);
    }
  }

  /** The next `bytes` buffered bytes: a view when one chunk holds them, else one copy. */
  private take(bytes: number): Buffer {
    const head = this.chunks[0]!;
    let out: Buffer;
    if (head.length >= bytes) {
      out = head.subarray(0, bytes);
      if (head.length === bytes) this.chunks.shift();
      else this.chunks[0] = head.subarray(bytes);
    } else {
      out = Buffer.allocUnsafe(bytes);
      let filled = 0;
      while (filled < bytes) {
        const chunk = this.chunks[0]!;
        const n = Math.min(chunk.length, bytes - filled);
        chunk.copy(out, filled, 0, n);
        filled += n;
        if (n === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(n);
      }
    }
    this.buffered -= bytes;
    return out;
  }

  private onFrame(frame: Buffer): void {
    let request: kafka.DecodedRequest;
    try {
      request = kafka.decodeRequest(frame, this.options.supported);
    } catch (err) {
      this.fail(err);
      return;
    }
    const slot: Slot = { done: false, served: undefined };
    this.queue.push(slot);
    this.inServiceBytes += frame.length;
    if (this.queue.length >= this.options.maxInFlight) this.socket.pause();
    this.start(request)
      .catch((err: unknown) => {
        // Handlers turn expected per-partition failures into error codes. What reaches here failed as a
        // whole: a SamsaError is a request this broker refuses, anything else a bug; either way the
        // request cannot be answered in Kafka's protocol, so the connection goes.
        const context = { apiKey: request.header.apiKey, correlationId: request.header.correlationId };
        if (err instanceof SamsaError) this.log.warn({ ...context, reason: err.message }, 'closing kafka connection');
        else this.log.error({ err, ...context }, 'kafka request failed');
        this.socket.destroy();
        const none: Served = { chunks: null };
        return none;
      })
      .then((served) => {
        this.inServiceBytes -= frame.length;
        slot.done = true;
        slot.served = served;
        if (this.socket.destroyed) served.release?.();
        else this.flush();
      });
  }

  private start(request: kafka.DecodedRequest): Promise<Served> {
    if (!this.options.oneAtATime?.(request)) return this.options.serve(request, this.abort.signal);
    const served = this.lastOneAtATime.then(() => this.options.serve(request, this.abort.signal));
    this.lastOneAtATime = served.catch(() => undefined);
    return served;
  }

  /** Writes every finished response at the head of the queue, in order. */
  private flush(): void {
    while (!this.waitingForDrain && this.queue.length > 0 && this.queue[0]!.done) {
      const { served } = this.queue.shift()!;
      const { chunks, release, closeConnection } = served!;
      if (chunks === null || this.socket.destroyed || this.cutShort) release?.();
      else {
        this.socket.cork();
        let ok = true;
        for (let i = 0; i < chunks.length; i++) {
          const last = i === chunks.length - 1;
          ok = this.socket.write(chunks[i]!, last && release ? () => release() : undefined) && ok;
        }
        this.socket.uncork();
        if (!ok) this.waitingForDrain = true;
      }
      if (closeConnection && !this.cutShort) this.cutShortHere();
    }
    if (!this.closing) this.pump();
    if (this.closing || this.inputEnded) {
      // Cut short: later requests still in service release their buffers when they finish (flush skips them).
      if (this.queue.length === 0 || this.cutShort) this.socket.end();
      return;
    }
    if (!this.waitingForDrain && this.queue.length < this.options.maxInFlight) this.socket.resume();
  }

  /** Stops reading; the connection ends once the responses to what it already read are written. */
  shutdown(): void {
    this.closing = true;
    this.socket.pause();
    this.flush();
  }

  /** Stops at a response that closes the connection: nothing more is read, later answers are dropped. */
  private cutShortHere(): void {
    this.log.info('closing kafka connection after a failed acks=0 produce');
    this.cutShort = true;
    this.closing = true;
    this.chunks.length = 0;
    this.buffered = 0;
    this.socket.pause();
  }

  /** A request that cannot be served: log it, stop reading, and close once earlier responses are out. */
  private fail(err: unknown): void {
    const details =
      err instanceof kafka.RequestDecodeError
        ? { apiKey: err.apiKey, apiVersion: err.apiVersion, correlationId: err.correlationId, kind: err.kind }
        : {};
    this.log.warn({ ...details, reason: err instanceof Error ? err.message : String(err) }, 'closing kafka connection');
    this.closing = true;
    this.chunks.length = 0;
    this.buffered = 0;
    this.socket.pause();
    this.flush();
  }
}
