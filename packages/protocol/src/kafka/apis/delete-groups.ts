import { array, field, message, struct } from '../schema.js';

/** DeleteGroups (key 42). */
export const DeleteGroupsRequest = message('DeleteGroupsRequest', '2+', field('groupsNames', array('string'), '0+'));

export const DeleteGroupsResponse = message(
  'DeleteGroupsResponse',
  '2+',
  field('throttleTimeMs', 'int32', '0+'),
  field('results', array(struct(field('groupId', 'string', '0+'), field('errorCode', 'int16', '0+'))), '0+'),
);

export interface DeleteGroupsRequestData {
  groupsNames: string[];
}

export interface DeleteGroupsResponseData {
  throttleTimeMs: number;
  results: { groupId: string; errorCode: number }[];
}
