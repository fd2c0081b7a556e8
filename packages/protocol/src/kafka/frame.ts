import { ApiKey, type ApiCodec } from './apis.js';
import { KafkaProtocolError, KafkaReader, KafkaWriter } from './io.js';
import { decodeMessage, encodeMessage } from './schema.js';

/**
 * Kafka's framing: every request and response is a 4-byte big-endian size followed by that many
 * bytes. A request starts with its header (v0: api key, api version, correlation id; v1 adds the
 * client id; v2, used by flexible versions, adds tagged fields); a response with the correlation id
 * (header v0) and, in flexible versions, tagged fields (v1) — except ApiVersions, whose response
 * header is v0 at every version so a client can read the answer before it knows the versions.
 */

export const FRAME_SIZE_BYTES = 4;

export interface RequestHeader {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
}

export type DecodedRequest =
  | { readonly kind: 'request'; readonly header: RequestHeader; readonly api: ApiCodec; readonly body: unknown }
  /** ApiVersions at a version this broker does not know: answered in v0 with UNSUPPORTED_VERSION, as Kafka does. */
  | { readonly kind: 'api-versions-unsupported'; readonly header: RequestHeader };

/** A request that failed to decode, with what was learned of its header (for the log line). */
export class RequestDecodeError extends KafkaProtocolError {
  constructor(
    cause: KafkaProtocolError,
    readonly apiKey: number | undefined,
    readonly apiVersion: number | undefined,
    readonly correlationId: number | undefined,
  ) {
    super(cause.kind, cause.detail);
    this.name = 'RequestDecodeError';
  }
}

/** The versions a receiver serves of an API, or undefined for an API it does not serve. */
export type SupportedVersions = (apiKey: number) => ApiCodec | undefined;

function headerFlexible(api: ApiCodec, version: number): boolean {
  return version >= api.request.flexibleFrom;
}

/**
 * Decodes one frame's payload (without its size prefix). Total: any malformed, unknown or
 * unsupported request is a RequestDecodeError; the body's byte strings are views into `frame`.
 */
export function decodeRequest(frame: Buffer, supported: SupportedVersions): DecodedRequest {
  const r = new KafkaReader(frame);
  let apiKey: number | undefined;
  let apiVersion: number | undefined;
  let correlationId: number | undefined;
  try {
    apiKey = r.int16('request api key');
    apiVersion = r.int16('request api version');
    correlationId = r.int32('correlation id');
    const api = supported(apiKey);
    if (!api) throw new KafkaProtocolError('unknown-api', `unknown API key ${apiKey}`);
    const inRange = apiVersion >= api.minVersion && apiVersion <= api.maxVersion;
    if (!inRange && apiKey === ApiKey.ApiVersions) {
      // Its body may be of a newer shape this broker cannot parse; the header's first part is enough.
      return { kind: 'api-versions-unsupported', header: { apiKey, apiVersion, correlationId, clientId: null } };
    }
    if (!inRange)
      throw new KafkaProtocolError(
        'unsupported-version',
        `${api.name} v${apiVersion} is not supported (v${api.minVersion}-v${api.maxVersion})`,
      );
    const clientId = r.string(true, 'client id');
    if (headerFlexible(api, apiVersion)) skipTaggedFields(r);
    const header = { apiKey, apiVersion, correlationId, clientId };
    const body = decodeMessage(api.request, apiVersion, r);
    return { kind: 'request', header, api, body };
  } catch (err) {
    if (err instanceof KafkaProtocolError) throw new RequestDecodeError(err, apiKey, apiVersion, correlationId);
    throw err;
  }
}

function skipTaggedFields(r: KafkaReader): void {
  const count = r.uvarint('header tagged field count');
  for (let i = 0; i < count; i++) {
    r.uvarint('header tag');
    r.window(r.uvarint('header tagged field size'), 'header tagged field');
  }
}

/** Encodes a request (used by tests and tools): size prefix, header v1 or v2, body. */
export function encodeRequest(api: ApiCodec, header: Omit<RequestHeader, 'apiKey'>, body: object): Buffer {
  const w = new KafkaWriter();
  w.int32(0).int16(api.key).int16(header.apiVersion).int32(header.correlationId).string(header.clientId);
  if (headerFlexible(api, header.apiVersion)) w.uvarint(0);
  encodeMessage(api.request, header.apiVersion, body, w);
  const out = w.toBuffer();
  out.writeInt32BE(out.length - FRAME_SIZE_BYTES, 0);
  return out;
}

/**
 * Encodes a response as chunks ready for writev: a small buffer holding the size prefix and the
 * header, then the body's chunks (record sets are passed through, not copied).
 */
export function encodeResponse(api: ApiCodec, version: number, correlationId: number, body: object): Buffer[] {
  const flexibleHeader = api.key !== ApiKey.ApiVersions && version >= api.response.flexibleFrom;
  const bodyWriter = encodeMessage(api.response, version, body, new KafkaWriter(512));
  const head = Buffer.allocUnsafe(flexibleHeader ? 9 : 8);
  head.writeInt32BE(bodyWriter.length + head.length - FRAME_SIZE_BYTES, 0);
  head.writeInt32BE(correlationId, 4);
  if (flexibleHeader) head[8] = 0; // no tagged fields
  return [head, ...bodyWriter.toChunks()];
}

/** Decodes a response payload (without its size prefix), for tests and tools. */
export function decodeResponse<T>(api: ApiCodec, version: number, payload: Buffer): { correlationId: number; body: T } {
  const r = new KafkaReader(payload);
  const correlationId = r.int32('correlation id');
  if (api.key !== ApiKey.ApiVersions && version >= api.response.flexibleFrom) skipTaggedFields(r);
  return { correlationId, body: decodeMessage<T>(api.response, version, r) };
}
