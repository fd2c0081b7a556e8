import { array, field, message, struct } from '../schema.js';

/** ListGroups (key 16). */
export const ListGroupsRequest = message(
  'ListGroupsRequest',
  '3+',
  field('statesFilter', array('string'), '4+'),
  field('typesFilter', array('string'), '5+'),
);

export const ListGroupsResponse = message(
  'ListGroupsResponse',
  '3+',
  field('throttleTimeMs', 'int32', '1+'),
  field('errorCode', 'int16', '0+'),
  field(
    'groups',
    array(
      struct(
        field('groupId', 'string', '0+'),
        field('protocolType', 'string', '0+'),
        field('groupState', 'string', '4+'),
        field('groupType', 'string', '5+'),
      ),
    ),
    '0+',
  ),
);

export interface ListGroupsRequestData {
  statesFilter: string[];
  typesFilter: string[];
}

export interface ListedGroup {
  groupId: string;
  protocolType: string;
  groupState: string;
  groupType: string;
}

export interface ListGroupsResponseData {
  throttleTimeMs: number;
  errorCode: number;
  groups: ListedGroup[];
}
