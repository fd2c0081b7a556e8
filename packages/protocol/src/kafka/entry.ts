/**
 * `@samsa/protocol/kafka`: the Kafka wire protocol (framing, request and response codecs per API and
 * version, the v0/v1 message sets), for the broker's Kafka listener and for tests and tools that speak
 * Kafka's protocol. Its own entry point so that a gRPC client (`@samsa/client`, the CLI), which imports
 * `@samsa/protocol`, does not load it. Both `import { kafka } from '@samsa/protocol/kafka'` (the namespace
 * the main entry exported before) and named imports work.
 */
export * from './index.js';
export * as kafka from './index.js';
