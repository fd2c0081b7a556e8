import { KafkaProtocolError, type KafkaReader, KafkaWriter } from './io.js';

/**
 * Messages are described the way Kafka's own definitions (clients/src/main/resources/common/message)
 * describe them: fields with the versions they exist in, the versions they may be null in, and tags
 * for tagged fields. One generic encoder and decoder walk a description; each API module holds only
 * its descriptions and types, so adding a version is a line, not a codec.
 *
 * Values are plain objects keyed by camelCase field name. A field missing from an object being
 * encoded takes its default; a field absent from a version decodes as its default.
 */

export type VersionRange = readonly [min: number, max: number];

/** Kafka's version syntax: "3+", "0-4", "7", or "none". */
export function versions(spec: string): VersionRange {
  if (spec === 'none') return [1, 0];
  const plus = /^(\d+)\+$/.exec(spec);
  if (plus) return [Number(plus[1]), Number.MAX_SAFE_INTEGER];
  const range = /^(\d+)-(\d+)$/.exec(spec);
  if (range) return [Number(range[1]), Number(range[2])];
  if (/^\d+$/.test(spec)) return [Number(spec), Number(spec)];
  throw new Error(`bad version range '${spec}'`);
}

function within(range: VersionRange, version: number): boolean {
  return version >= range[0] && version <= range[1];
}

export type PrimitiveType =
  | 'bool'
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'int64'
  | 'float64'
  | 'uuid'
  | 'string'
  | 'bytes'
  | 'records';

export interface StructType {
  readonly kind: 'struct';
  readonly fields: readonly Field[];
}

export interface ArrayType {
  readonly kind: 'array';
  readonly of: PrimitiveType | StructType;
}

export type FieldType = PrimitiveType | StructType | ArrayType;

export interface Field {
  readonly name: string;
  readonly type: FieldType;
  readonly versions: VersionRange;
  readonly nullable?: VersionRange;
  /** A tagged field (in flexible versions only): written in the struct's tag section when not the default. */
  readonly tag?: number;
  readonly default?: unknown;
}

export interface FieldOptions {
  nullable?: string;
  tag?: number;
  default?: unknown;
}

export function field(name: string, type: FieldType, versionSpec: string, options: FieldOptions = {}): Field {
  return {
    name,
    type,
    versions: versions(versionSpec),
    ...(options.nullable !== undefined ? { nullable: versions(options.nullable) } : {}),
    ...(options.tag !== undefined ? { tag: options.tag } : {}),
    ...(options.default !== undefined ? { default: options.default } : {}),
  };
}

export function struct(...fields: Field[]): StructType {
  return { kind: 'struct', fields };
}

export function array(of: PrimitiveType | StructType): ArrayType {
  return { kind: 'array', of };
}

/** One side (request or response) of an API. */
export interface MessageSchema {
  readonly name: string;
  readonly fields: readonly Field[];
  /** First flexible version (compact types and tagged fields); MAX_SAFE_INTEGER when none. */
  readonly flexibleFrom: number;
}

export function message(name: string, flexibleSpec: string, ...fields: Field[]): MessageSchema {
  return { name, fields, flexibleFrom: flexibleSpec === 'none' ? Number.MAX_SAFE_INTEGER : versions(flexibleSpec)[0] };
}

export const ZERO_UUID = 'AAAAAAAAAAAAAAAAAAAAAA';

function defaultOf(f: Field): unknown {
  if (f.default !== undefined) return f.default;
  return defaultOfType(f.type);
}

function defaultOfType(type: FieldType): unknown {
  if (typeof type === 'object') {
    if (type.kind === 'array') return [];
    const out: Record<string, unknown> = {};
    for (const f of type.fields) out[f.name] = defaultOf(f);
    return out;
  }
  switch (type) {
    case 'bool':
      return false;
    case 'uuid':
      return ZERO_UUID;
    case 'string':
      return '';
    case 'bytes':
      return Buffer.alloc(0);
    case 'records':
      return null;
    default:
      return 0;
  }
}

// ---- decoding ----

function decodePrimitive(
  r: KafkaReader,
  type: PrimitiveType,
  flexible: boolean,
  nullable: boolean,
  what: string,
): unknown {
  switch (type) {
    case 'bool':
      return r.bool(what);
    case 'int8':
      return r.int8(what);
    case 'int16':
      return r.int16(what);
    case 'uint16':
      return r.uint16(what);
    case 'int32':
      return r.int32(what);
    case 'int64':
      return r.int64(what);
    case 'float64':
      return r.float64(what);
    case 'uuid':
      return r.uuid(what);
    case 'string':
      return flexible ? r.compactString(nullable, what) : r.string(nullable, what);
    case 'bytes':
    case 'records':
      return flexible ? r.compactBytes(nullable, what) : r.bytes(nullable, what);
  }
}

function decodeType(
  r: KafkaReader,
  type: FieldType,
  version: number,
  flexible: boolean,
  nullable: boolean,
  what: string,
): unknown {
  if (typeof type === 'string') return decodePrimitive(r, type, flexible, nullable, what);
  if (type.kind === 'struct') {
    // A nullable struct is preceded by an int8: -1 for null, 1 for present (Kafka's generated code).
    if (nullable && r.int8(what) < 0) return null;
    return decodeStruct(r, type.fields, version, flexible, what);
  }
  const n = r.arrayLength(flexible, nullable, what);
  if (n === null) return null;
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) out[i] = decodeType(r, type.of, version, flexible, false, what);
  return out;
}

function decodeStruct(
  r: KafkaReader,
  fields: readonly Field[],
  version: number,
  flexible: boolean,
  what: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    // Tagged fields start at their default; the tag section at the struct's end may set them.
    if (!within(f.versions, version) || f.tag !== undefined) {
      out[f.name] = defaultOf(f);
      continue;
    }
    const nullable = f.nullable !== undefined && within(f.nullable, version);
    out[f.name] = decodeType(r, f.type, version, flexible, nullable, `${what}.${f.name}`);
  }
  if (flexible) decodeTaggedFields(r, fields, version, out, what);
  return out;
}

function decodeTaggedFields(
  r: KafkaReader,
  fields: readonly Field[],
  version: number,
  out: Record<string, unknown>,
  what: string,
): void {
  const count = r.uvarint(`${what} tagged field count`);
  if (count > r.remaining) throw new KafkaProtocolError('malformed', `${what} claims ${count} tagged fields`);
  let lastTag = -1;
  for (let i = 0; i < count; i++) {
    const tag = r.uvarint(`${what} tag`);
    if (tag <= lastTag)
      throw new KafkaProtocolError('malformed', `${what} tags out of order (${tag} after ${lastTag})`);
    lastTag = tag;
    const size = r.uvarint(`${what} tagged field size`);
    const body = r.window(size, `${what} tagged field ${tag}`);
    const f = fields.find((x) => x.tag === tag && within(x.versions, version));
    if (!f) continue; // unknown tags are skipped, as the protocol intends
    const nullable = f.nullable !== undefined && within(f.nullable, version);
    out[f.name] = decodeType(body, f.type, version, true, nullable, `${what}.${f.name}`);
    if (body.remaining !== 0)
      throw new KafkaProtocolError('malformed', `${what}.${f.name} has ${body.remaining} extra bytes`);
  }
}

/** Decodes a whole message body; bytes left over are an error (a request must be exactly its frame). */
export function decodeMessage<T>(schema: MessageSchema, version: number, r: KafkaReader): T {
  const value = decodeStruct(r, schema.fields, version, version >= schema.flexibleFrom, schema.name);
  if (r.remaining !== 0)
    throw new KafkaProtocolError('malformed', `${schema.name} v${version} is followed by ${r.remaining} unread bytes`);
  return value as T;
}

// ---- encoding ----

function encodePrimitive(w: KafkaWriter, type: PrimitiveType, flexible: boolean, value: unknown): void {
  switch (type) {
    case 'bool':
      w.bool(value as boolean);
      return;
    case 'int8':
      w.int8(value as number);
      return;
    case 'int16':
      w.int16(value as number);
      return;
    case 'uint16':
      w.uint16(value as number);
      return;
    case 'int32':
      w.int32(value as number);
      return;
    case 'int64':
      w.int64(value as number);
      return;
    case 'float64':
      w.float64(value as number);
      return;
    case 'uuid':
      w.uuid(value as string);
      return;
    case 'string':
      if (flexible) w.compactString(value as string | null);
      else w.string(value as string | null);
      return;
    case 'bytes':
    case 'records':
      if (flexible) w.compactBytes(value as Uint8Array | null);
      else w.bytes(value as Uint8Array | null);
      return;
  }
}

function encodeType(
  w: KafkaWriter,
  type: FieldType,
  version: number,
  flexible: boolean,
  value: unknown,
  what: string,
): void {
  if (typeof type === 'string') {
    encodePrimitive(w, type, flexible, value);
    return;
  }
  if (type.kind === 'struct') {
    encodeStruct(w, type.fields, version, flexible, (value ?? {}) as Record<string, unknown>, what);
    return;
  }
  const items = value as readonly unknown[] | null;
  w.arrayLength(flexible, items === null ? null : items.length);
  if (items) for (const item of items) encodeType(w, type.of, version, flexible, item, what);
}

/** Whether a tagged field can be left out: absent, or equal to its default (structs field by field). */
function isDefault(f: Field, value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof f.type !== 'object') return value === defaultOf(f);
  if (f.type.kind === 'array') return Array.isArray(value) && value.length === 0;
  if (value === null || typeof value !== 'object') return false;
  const fields = value as Record<string, unknown>;
  return f.type.fields.every((inner) => isDefault(inner, fields[inner.name]));
}

function encodeStruct(
  w: KafkaWriter,
  fields: readonly Field[],
  version: number,
  flexible: boolean,
  value: Record<string, unknown>,
  what: string,
): void {
  const tagged: Field[] = [];
  for (const f of fields) {
    if (!within(f.versions, version)) continue;
    if (f.tag !== undefined) {
      if (flexible && !isDefault(f, value[f.name])) tagged.push(f);
      continue;
    }
    let v = value[f.name];
    if (v === undefined) v = defaultOf(f);
    const nullable = f.nullable !== undefined && within(f.nullable, version);
    if (v === null && !nullable) throw new RangeError(`${what}.${f.name} may not be null in version ${version}`);
    if (nullable && typeof f.type === 'object' && f.type.kind === 'struct') {
      w.int8(v === null ? -1 : 1);
      if (v === null) continue;
    }
    encodeType(w, f.type, version, flexible, v, `${what}.${f.name}`);
  }
  if (!flexible) return;
  tagged.sort((a, b) => a.tag! - b.tag!);
  w.uvarint(tagged.length);
  for (const f of tagged) {
    const inner = new KafkaWriter(64);
    encodeType(inner, f.type, version, true, value[f.name], `${what}.${f.name}`);
    w.uvarint(f.tag!).uvarint(inner.length);
    for (const chunk of inner.toChunks()) w.raw(chunk);
  }
}

export function encodeMessage(
  schema: MessageSchema,
  version: number,
  value: object,
  w = new KafkaWriter(),
): KafkaWriter {
  encodeStruct(
    w,
    schema.fields,
    version,
    version >= schema.flexibleFrom,
    value as Record<string, unknown>,
    schema.name,
  );
  return w;
}
