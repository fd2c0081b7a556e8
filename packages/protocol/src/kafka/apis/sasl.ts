import { array, field, message } from '../schema.js';

/**
 * SaslHandshake (key 17) and SaslAuthenticate (key 36). A broker lists them on every listener; on a
 * PLAINTEXT listener they are answered ILLEGAL_SASL_STATE (a client configured for SASL learns that the
 * listener does not authenticate, instead of being disconnected).
 */
export const SaslHandshakeRequest = message('SaslHandshakeRequest', 'none', field('mechanism', 'string', '0+'));

export const SaslHandshakeResponse = message(
  'SaslHandshakeResponse',
  'none',
  field('errorCode', 'int16', '0+'),
  field('mechanisms', array('string'), '0+'),
);

export const SaslAuthenticateRequest = message('SaslAuthenticateRequest', '2+', field('authBytes', 'bytes', '0+'));

export const SaslAuthenticateResponse = message(
  'SaslAuthenticateResponse',
  '2+',
  field('errorCode', 'int16', '0+'),
  field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
  field('authBytes', 'bytes', '0+'),
  field('sessionLifetimeMs', 'int64', '1+', { default: 0 }),
);

export interface SaslHandshakeRequestData {
  mechanism: string;
}

export interface SaslHandshakeResponseData {
  errorCode: number;
  mechanisms: string[];
}

export interface SaslAuthenticateRequestData {
  authBytes: Buffer;
}

export interface SaslAuthenticateResponseData {
  errorCode: number;
  errorMessage: string | null;
  authBytes: Buffer;
  sessionLifetimeMs?: number;
}
