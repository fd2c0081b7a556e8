/**
 * A protobuf codec for the messages every produced record crosses several times (produce and fetch on
 * their streams, replica fetches), driven by the message descriptors @grpc/proto-loader already built,
 * so it cannot drift from proto/. It reads and writes the plain objects proto-loader's own codec does
 * with PROTO_LOADER_OPTIONS (every field present with its default, 64-bit integers as numbers, a proto3
 * `optional` field only when set, with its `_name` oneof marker), without the two conversions that codec
 * makes per message: protobufjs decodes into message instances (64-bit values as Long objects) and then
 * converts them to plain objects (`toObject`), and encodes by first converting the plain object back into
 * an instance (`fromObject`). `bytes` fields are views of the received buffer, as protobufjs's are.
 *
 * It covers int32, int64, bool, string, bytes and nested message fields, single or repeated; a message
 * with any other field (enums, maps, floating point, real oneofs) gets no codec here. Anything it does
 * not expect at run time (a field of the wrong wire type, a group, a truncated buffer; a value to encode
 * that is not a plain number, string, buffer or object) makes it give up, and the caller uses
 * proto-loader's codec for that message, which decodes or refuses it exactly as before.
 */

import { varintSize, writeVarint } from './proto-varint.js';

/** The parts of a proto-loader message definition (a DescriptorProto) this codec reads. */
interface DescriptorField {
  readonly name: string;
  readonly number: number;
  readonly label: string;
  readonly type: string;
  readonly typeName: string;
}
interface MessageDescriptor {
  readonly name: string;
  readonly field: readonly DescriptorField[];
  readonly oneofDecl?: readonly { readonly name: string }[];
}

type Kind = 'int32' | 'int64' | 'bool' | 'string' | 'bytes' | 'message';

interface Field {
  readonly name: string;
  readonly number: number;
  readonly kind: Kind;
  readonly repeated: boolean;
  /** proto3 `optional`: present only when set, with the `_name` marker proto-loader's `oneofs` adds. */
  readonly optional: boolean;
  readonly oneofMarker: string;
  /** The wire type of each element: 0 varint, 2 length-delimited. */
  readonly wireType: 0 | 2;
  /** (number << 3) | wireType: what the encoder writes, what the decoder expects. */
  readonly tag: number;
  /** A message field's type as the descriptor names it, and its codec once built. */
  readonly typeName: string;
  message?: MessageCodec;
}

const KINDS: Readonly<Record<string, Kind>> = {
  TYPE_INT32: 'int32',
  TYPE_INT64: 'int64',
  TYPE_BOOL: 'bool',
  TYPE_STRING: 'string',
  TYPE_BYTES: 'bytes',
  TYPE_MESSAGE: 'message',
};

const EMPTY = Buffer.alloc(0);
const TWO_32 = 2 ** 32;

/** What the generated functions of a codec call: the reader and writer helpers, and the codecs of nested messages. */
interface Compiled {
  read: (r: Reader, end: number) => Record<string, unknown>;
  size: (message: Record<string, unknown>, sizes: number[]) => number;
  write: (
    message: Record<string, unknown>,
    buf: Buffer,
    pos: number,
    sizes: number[],
    cursor: { next: number },
  ) => number;
}

interface Reader {
  buf: Buffer;
  pos: number;
}

export class MessageCodec {
  private compiled: Compiled | undefined;

  private constructor(readonly fields: readonly Field[]) {}

  /**
   * The codec of the message named `typeName` (e.g. 'samsa.v1.ProduceStreamRequest') in a proto-loader
   * package definition, or undefined when it (or a message it holds) has a field this codec does not cover.
   */
  static fromDefinition(definition: Readonly<Record<string, unknown>>, typeName: string): MessageCodec | undefined {
    const built = new Map<string, MessageCodec | undefined>();
    const build = (name: string): MessageCodec | undefined => {
      if (built.has(name)) return built.get(name);
      const entry = definition[name] as { type?: MessageDescriptor } | undefined;
      const descriptor = entry?.type;
      if (descriptor?.field === undefined) return undefined;
      const synthetic = new Set((descriptor.oneofDecl ?? []).map((o) => o.name));
      const fields: Field[] = [];
      for (const f of descriptor.field) {
        const kind = KINDS[f.type];
        if (kind === undefined || f.number >= 16) return undefined; // one-byte tags only
        const repeated = f.label === 'LABEL_REPEATED';
        // Repeated scalars are packed in proto3: not covered (none of the messages this is for has one).
        if (repeated && kind !== 'string' && kind !== 'bytes' && kind !== 'message') return undefined;
        const optional = synthetic.delete(`_${f.name}`);
        const wireType = kind === 'string' || kind === 'bytes' || kind === 'message' ? 2 : 0;
        fields.push({
          name: f.name,
          number: f.number,
          kind,
          repeated,
          optional,
          oneofMarker: `_${f.name}`,
          wireType,
          tag: (f.number << 3) | wireType,
          typeName: f.typeName,
        });
      }
      if (synthetic.size > 0) return undefined; // a real oneof
      const codec = new MessageCodec(fields);
      built.set(name, codec);
      for (const field of fields) {
        if (field.kind !== 'message') continue;
        const nested = resolveTypeName(definition, name, field.typeName);
        const inner = nested === undefined ? undefined : build(nested);
        if (inner === undefined) {
          built.set(name, undefined);
          return undefined;
        }
        field.message = inner;
      }
      return codec;
    };
    const codec = build(typeName);
    // A message that holds one without a codec has none either (built before its field was seen).
    if (codec === undefined || !codec.complete(new Set())) return undefined;
    for (const c of built.values()) c?.compile();
    return codec;
  }

  private complete(seen: Set<MessageCodec>): boolean {
    if (seen.has(this)) return true;
    seen.add(this);
    return this.fields.every((f) => f.kind !== 'message' || f.message?.complete(seen) === true);
  }

  /** The message in `bytes`, as proto-loader's deserializer returns it; undefined when it gives up. */
  decode(bytes: Buffer): Record<string, unknown> | undefined {
    try {
      const reader: Reader = { buf: bytes, pos: 0 };
      return (this.compiled as Compiled).read(reader, bytes.length);
    } catch (err) {
      if (err === UNHANDLED || err instanceof RangeError) return undefined;
      throw err;
    }
  }

  /** `message` encoded, as proto-loader's serializer would (up to leaving defaults out); undefined when it gives up. */
  encode(message: object): Buffer | undefined {
    const compiled = this.compiled as Compiled;
    try {
      if (typeof message !== 'object' || message === null) return undefined;
      const sizes: number[] = [];
      const size = compiled.size(message as Record<string, unknown>, sizes);
      const buf = Buffer.allocUnsafe(size);
      const end = compiled.write(message as Record<string, unknown>, buf, 0, sizes, { next: 0 });
      if (end !== size) throw new Error(`message codec wrote ${end} bytes of ${size}`);
      return buf;
    } catch (err) {
      if (err === UNHANDLED) return undefined;
      throw err;
    }
  }

  /**
   * Generates this message's reader, sizer and writer, as protobufjs does for its own codec: a function
   * with the field names written into it reads and writes plain objects of one shape, where a loop over
   * the fields with computed names is several times slower.
   */
  private compile(): void {
    const nested = this.fields.map((f) => f.message);
    const make = (body: string) => new Function('h', 'nested', `"use strict";\n${body}`)(HELPERS, nested);
    this.compiled = {
      read: make(readerSource(this.fields)),
      size: make(sizerSource(this.fields)),
      write: make(writerSource(this.fields)),
    };
  }

  /** For the generated code: a nested message's functions. */
  get functions(): Compiled {
    return this.compiled as Compiled;
  }
}

/** Thrown inside the codec for input it does not handle; the caller falls back to proto-loader's codec. */
const UNHANDLED = new Error('not handled by the message codec');

const HELPERS = {
  EMPTY,
  UNHANDLED,
  varint: (r: Reader, as32: boolean) => readVarint64(r, as32),
  /** Reads a length and returns where its bytes end (within `end`). */
  span(r: Reader, end: number): number {
    const length = readVarint32(r);
    const stop = r.pos + length;
    if (stop > end) throw UNHANDLED;
    return stop;
  },
  skip: (r: Reader, wireType: number, end: number) => skip(r, wireType, end),
  varintSize: (n: number) => varintSize(n),
  writeVarint: (buf: Buffer, pos: number, n: number) => writeVarint(buf, pos, n),
  isInt32: (v: unknown) => typeof v === 'number' && (v | 0) === v,
  stringSize(x: unknown): number {
    if (typeof x !== 'string') throw UNHANDLED;
    const length = Buffer.byteLength(x, 'utf8');
    return 1 + varintSize(length) + length;
  },
  /** `always`: written even when empty (repeated or optional); a singular empty one is left out. */
  bytesSize(x: unknown, always: boolean): number {
    if (!(x instanceof Uint8Array)) throw UNHANDLED;
    return always || x.length > 0 ? 1 + varintSize(x.length) + x.length : 0;
  },
  /** Pushes the message's size before its nested messages', in the order the writer takes them. */
  messageSize(codec: MessageCodec, x: unknown, sizes: number[]): number {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) throw UNHANDLED;
    const at = sizes.length;
    sizes.push(0);
    const length = codec.functions.size(x as Record<string, unknown>, sizes);
    sizes[at] = length;
    return 1 + varintSize(length) + length;
  },
  writeString(buf: Buffer, pos: number, tag: number, x: string): number {
    buf[pos++] = tag;
    const length = Buffer.byteLength(x, 'utf8');
    pos = writeVarint(buf, pos, length);
    return pos + buf.write(x, pos, length, 'utf8');
  },
  writeBytes(buf: Buffer, pos: number, tag: number, x: Uint8Array, always: boolean): number {
    if (!always && x.length === 0) return pos;
    buf[pos++] = tag;
    pos = writeVarint(buf, pos, x.length);
    buf.set(x, pos);
    return pos + x.length;
  },
  writeMessage(
    codec: MessageCodec,
    buf: Buffer,
    pos: number,
    tag: number,
    x: Record<string, unknown>,
    sizes: number[],
    cursor: { next: number },
  ): number {
    buf[pos++] = tag;
    pos = writeVarint(buf, pos, sizes[cursor.next++] as number);
    return codec.functions.write(x, buf, pos, sizes, cursor);
  },
};

const prop = (name: string) => `[${JSON.stringify(name)}]`;

function defaultSource(kind: Kind): string {
  switch (kind) {
    case 'int32':
    case 'int64':
      return '0';
    case 'bool':
      return 'false';
    case 'string':
      return "''";
    case 'bytes':
      return 'h.EMPTY'; // zero bytes: nothing to write into, so one is shared
    case 'message':
      return 'null';
  }
}

function readerSource(fields: readonly Field[]): string {
  const defaults = fields
    .filter((f) => !f.optional)
    .map((f) => `${JSON.stringify(f.name)}: ${f.repeated ? '[]' : defaultSource(f.kind)}`);
  const cases = fields.map((f, i) => {
    let value: string;
    let pre = '';
    switch (f.kind) {
      case 'int32':
        value = 'h.varint(r, true)';
        break;
      case 'int64':
        value = 'h.varint(r, false)';
        break;
      case 'bool':
        value = 'h.varint(r, true) !== 0';
        break;
      case 'string':
        pre = 'const e = h.span(r, end); const s = r.pos; r.pos = e;';
        value = "buf.toString('utf8', s, e)";
        break;
      case 'bytes':
        pre = 'const e = h.span(r, end); const s = r.pos; r.pos = e;';
        value = 'e === s ? h.EMPTY : buf.subarray(s, e)';
        break;
      case 'message':
        pre = 'const e = h.span(r, end);';
        value = `nested[${i}].functions.read(r, e)`;
        break;
    }
    const store = f.repeated
      ? `o${prop(f.name)}.push(${value});`
      : `o${prop(f.name)} = ${value};${f.optional ? ` o${prop(f.oneofMarker)} = ${JSON.stringify(f.name)};` : ''}`;
    return `      case ${f.tag}: { ${pre} ${store} break; }`;
  });
  const known = fields.map((f) => f.number);
  return `return function read(r, end) {
  const buf = r.buf;
  const o = { ${defaults.join(', ')} };
  while (r.pos < end) {
    let key = buf[r.pos];
    if (key !== undefined && key < 128) r.pos++;
    else key = h.varint(r, true);
    switch (key) {
${cases.join('\n')}
      default:
        // A known field with another wire type: protobufjs would read it regardless; leave it to protobufjs.
        if (${known.length > 0 ? known.map((n) => `(key >>> 3) === ${n}`).join(' || ') : 'false'}) throw h.UNHANDLED;
        h.skip(r, key & 7, end);
    }
  }
  if (r.pos !== end) throw h.UNHANDLED;
  return o;
};`;
}

/** The condition under which a singular field is written: proto3 leaves defaults out, except a set `optional`. */
function presentSource(f: Field, v: string): string {
  if (f.optional || f.kind === 'message' || f.kind === 'bytes') return `${v} !== undefined && ${v} !== null`;
  return `${v} !== undefined && ${v} !== null && ${v} !== ${defaultSource(f.kind)}`;
}

function sizerSource(fields: readonly Field[]): string {
  const parts = fields.map((f, i) => {
    let one: string;
    switch (f.kind) {
      case 'int32':
        one = 'if (!h.isInt32(x)) throw h.UNHANDLED; n += 1 + h.varintSize(x);';
        break;
      case 'int64':
        one = 'if (!Number.isSafeInteger(x)) throw h.UNHANDLED; n += 1 + h.varintSize(x);';
        break;
      case 'bool':
        one = "if (typeof x !== 'boolean') throw h.UNHANDLED; n += 2;";
        break;
      case 'string':
        one = 'n += h.stringSize(x);';
        break;
      case 'bytes':
        // An empty singular bytes field is left out (proto3), as the writer does.
        one = `n += h.bytesSize(x, ${f.repeated || f.optional});`;
        break;
      case 'message':
        one = `n += h.messageSize(nested[${i}], x, sizes);`;
        break;
    }
    const v = `o${prop(f.name)}`;
    if (f.repeated)
      return (
        `{ const a = ${v}; if (a !== undefined && a !== null) { if (!Array.isArray(a)) throw h.UNHANDLED; ` +
        `for (let k = 0; k < a.length; k++) { const x = a[k]; ${one} } } }`
      );
    return `{ const x = ${v}; if (${presentSource(f, 'x')}) { ${one} } }`;
  });
  return `return function size(o, sizes) {
  let n = 0;
  ${parts.join('\n  ')}
  return n;
};`;
}

function writerSource(fields: readonly Field[]): string {
  const parts = fields.map((f, i) => {
    let one: string;
    switch (f.kind) {
      case 'int32':
      case 'int64':
        one = `buf[pos++] = ${f.tag}; pos = h.writeVarint(buf, pos, x);`;
        break;
      case 'bool':
        one = `buf[pos++] = ${f.tag}; buf[pos++] = x ? 1 : 0;`;
        break;
      case 'string':
        one = `pos = h.writeString(buf, pos, ${f.tag}, x);`;
        break;
      case 'bytes':
        one = `pos = h.writeBytes(buf, pos, ${f.tag}, x, ${f.repeated || f.optional});`;
        break;
      case 'message':
        one = `pos = h.writeMessage(nested[${i}], buf, pos, ${f.tag}, x, sizes, cursor);`;
        break;
    }
    const v = `o${prop(f.name)}`;
    if (f.repeated)
      return (
        `{ const a = ${v}; if (a !== undefined && a !== null) ` +
        `for (let k = 0; k < a.length; k++) { const x = a[k]; ${one} } }`
      );
    return `{ const x = ${v}; if (${presentSource(f, 'x')}) { ${one} } }`;
  });
  return `return function write(o, buf, pos, sizes, cursor) {
  ${parts.join('\n  ')}
  return pos;
};`;
}

/** The full name of a field's message type, as proto-loader keys its definition. */
function resolveTypeName(
  definition: Readonly<Record<string, unknown>>,
  owner: string,
  typeName: string,
): string | undefined {
  if (typeName.startsWith('.')) return typeName.slice(1);
  // Relative: look in the owner's scope, then outwards (protobuf's scoping).
  const scope = owner.split('.').slice(0, -1);
  for (let i = scope.length; i >= 0; i--) {
    const candidate = [...scope.slice(0, i), typeName].join('.');
    if (candidate in definition) return candidate;
  }
  return undefined;
}

function readVarint32(r: Reader): number {
  const value = readVarint64(r, true);
  if (value < 0) throw UNHANDLED;
  return value;
}

/**
 * A varint as protobufjs reads it with `longs: Number`: int64 as a (signed) number; keys, lengths, int32
 * and bool (`as32`) as the low 32 bits, signed, where protobufjs's reader takes a fifth byte that goes on
 * as the start of a 10-byte negative value and steps over the other five unread. Cut off, or longer than
 * 10 bytes, it is refused (as protobufjs refuses it).
 */
function readVarint64(r: Reader, as32: boolean): number {
  const buf = r.buf;
  let pos = r.pos;
  let lo = 0;
  let b: number;
  for (let shift = 0; shift < 28; shift += 7) {
    b = byteAt(buf, pos++);
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) {
      r.pos = pos;
      return as32 ? lo | 0 : lo >>> 0;
    }
  }
  b = byteAt(buf, pos++);
  lo |= (b & 0x7f) << 28;
  if (as32) {
    if (b >= 0x80) {
      pos += 5;
      if (pos > buf.length) throw UNHANDLED;
    }
    r.pos = pos;
    return lo | 0;
  }
  let hi = (b & 0x7f) >> 4;
  if (b >= 0x80) {
    for (let shift = 3; ; shift += 7) {
      if (shift > 31) throw UNHANDLED;
      b = byteAt(buf, pos++);
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
  }
  r.pos = pos;
  return (hi | 0) * TWO_32 + (lo >>> 0);
}

function byteAt(buf: Buffer, pos: number): number {
  const b = buf[pos];
  if (b === undefined) throw UNHANDLED;
  return b;
}

function skip(r: Reader, wireType: number, end: number): void {
  switch (wireType) {
    case 0:
      readVarint64(r, false);
      break;
    case 1:
      r.pos += 8;
      break;
    case 2: {
      const length = readVarint32(r); // before reading r.pos, which this moves
      r.pos += length;
      break;
    }
    case 5:
      r.pos += 4;
      break;
    default:
      throw UNHANDLED; // groups (3, 4) and invalid wire types
  }
  if (r.pos > end) throw UNHANDLED;
}
