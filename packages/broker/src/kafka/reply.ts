import type { kafka } from '@samsa/protocol/kafka';
import type { BrokerContext } from '../server/context.js';
import type { FetchSessions } from './fetch-sessions.js';

/** A response body, or none (acks=0 Produce), and what to do once it is written. */
export interface Reply {
  readonly body: object | null;
  readonly release?: () => void;
  /** Close the connection after this answer (Served.closeConnection: a failed acks=0 Produce). */
  readonly closeConnection?: boolean;
}

/** What a Kafka listener keeps across requests and connections. */
export interface KafkaListenerState {
  readonly fetchSessions: FetchSessions;
  /** The connection's peer address (Kafka's "/host" form), for the group members it registers. */
  readonly clientHost?: string;
}

export type Handler = (
  ctx: BrokerContext,
  version: number,
  body: never,
  signal: AbortSignal,
  state: KafkaListenerState,
  header: kafka.RequestHeader,
) => Promise<Reply> | Reply;
