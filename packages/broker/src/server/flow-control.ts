/**
 * HTTP/2 flow-control window of broker connections, both ends: the servers' (grpc-server.ts) and the
 * broker-to-broker clients' (peer-clients.ts). Clients of the SDK use the same.
 */
export const FLOW_CONTROL_WINDOW_BYTES = 64 * 1024 * 1024;
