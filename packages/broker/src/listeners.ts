/**
 * Named listeners (Kafka's `listeners` / `advertised.listeners`): one `NAME://host:port` per
 * listener, what a broker registers for each, and how a peer picks the address it dials.
 * Pure: shared by the settings, the znode codecs, the metadata cache and the servers.
 */

/** One named listener's advertised address (Kafka's `NAME://host:port`). */
export interface ListenerEndpoint {
  /** Listener name, upper case (Kafka normalises names so). */
  readonly listener: string;
  readonly host: string;
  readonly port: number;
}

/** The listener name of a plain `host:port` and of a registration written without `endpoints`. */
export const DEFAULT_LISTENER_NAME = 'PLAINTEXT';

/**
 * A live broker as registered under /brokers/ids/<id>. `host`/`port` is the inter-broker endpoint
 * (what registrations without `endpoints` carry, and what older readers use); `endpoints` lists every
 * advertised listener. A registration without `endpoints` has one listener, PLAINTEXT at host:port.
 */
export interface BrokerEndpoint {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  readonly rack?: string;
  readonly endpoints?: readonly ListenerEndpoint[];
}

/** The broker's address on `listener`, or undefined when it does not advertise that listener. */
export function endpointOn(broker: BrokerEndpoint, listener: string): ListenerEndpoint | undefined {
  if (!broker.endpoints)
    return listener === DEFAULT_LISTENER_NAME ? { listener, host: broker.host, port: broker.port } : undefined;
  return broker.endpoints.find((e) => e.listener === listener);
}

/**
 * Parses Kafka's `NAME://host:port` (`NAME://[::1]:9092` for IPv6; an empty host is allowed, as in
 * Kafka's `PLAINTEXT://:9092`). The name is upper-cased, as Kafka normalises listener names. Returns
 * undefined when `value` is not of that shape.
 */
export function parseListenerEndpoint(value: string): ListenerEndpoint | undefined {
  const match = /^([A-Za-z0-9_-]+):\/\/(?:\[([^\]]+)\]|([^:[\]/]*)):(\d{1,5})$/.exec(value.trim());
  if (!match) return undefined;
  const port = Number(match[4]);
  if (port > 65535) return undefined;
  return { listener: match[1]!.toUpperCase(), host: (match[2] ?? match[3])!, port };
}

/** The inverse of parseListenerEndpoint. */
export function formatListenerEndpoint(e: ListenerEndpoint): string {
  return `${e.listener}://${grpcAddress(e)}`;
}

/** `host:port` for a gRPC target (IPv6 literals in brackets). */
export function grpcAddress(endpoint: { readonly host: string; readonly port: number }): string {
  return `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
}
