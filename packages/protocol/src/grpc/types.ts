// Short names for the generated samsa.v1 message types, for handlers and the client.
export type * as v1 from './gen/samsa/v1/index.js';
