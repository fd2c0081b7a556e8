import { ErrorCodes } from '@samsa/protocol';
import { errorFields, type ErrorFields } from '../errors.js';

/** What the group RPCs answer while this broker has no group coordinator running. */
export function coordinatorNotAvailable(): ErrorFields {
  return errorFields(ErrorCodes.COORDINATOR_NOT_AVAILABLE, 'the group coordinator is not running on this broker yet');
}
