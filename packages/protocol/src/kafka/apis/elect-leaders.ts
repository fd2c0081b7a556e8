import { array, field, message, struct } from '../schema.js';

/** ElectLeaders (key 43): election type 0 is preferred, 1 unclean; null topics mean every partition. */
export const ElectLeadersRequest = message(
  'ElectLeadersRequest',
  '2+',
  field('electionType', 'int8', '1+'),
  field(
    'topicPartitions',
    array(struct(field('topic', 'string', '0+'), field('partitions', array('int32'), '0+'))),
    '0+',
    { nullable: '0+' },
  ),
  field('timeoutMs', 'int32', '0+', { default: 60_000 }),
);

export const ElectLeadersResponse = message(
  'ElectLeadersResponse',
  '2+',
  field('throttleTimeMs', 'int32', '0+'),
  field('errorCode', 'int16', '1+'),
  field(
    'replicaElectionResults',
    array(
      struct(
        field('topic', 'string', '0+'),
        field(
          'partitionResult',
          array(
            struct(
              field('partitionId', 'int32', '0+'),
              field('errorCode', 'int16', '0+'),
              field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
            ),
          ),
          '0+',
        ),
      ),
    ),
    '0+',
  ),
);

export const ELECTION_TYPE_PREFERRED = 0;
export const ELECTION_TYPE_UNCLEAN = 1;

export interface ElectLeadersRequestData {
  electionType: number;
  topicPartitions: { topic: string; partitions: number[] }[] | null;
  timeoutMs: number;
}

export interface ElectLeadersResponseData {
  throttleTimeMs: number;
  errorCode: number;
  replicaElectionResults: {
    topic: string;
    partitionResult: { partitionId: number; errorCode: number; errorMessage: string | null }[];
  }[];
}
