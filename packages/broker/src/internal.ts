/**
 * Not for users: what the test suites need beyond the public entry (index.ts), with no compatibility
 * promise. Imported as '@samsa/broker/internal'; package sources never import it (scripts/tidy.mjs).
 */
export * from './index.js';
export * from './storage/index.js';
export { listenerConfig, type ListenerConfig } from './config.js';
