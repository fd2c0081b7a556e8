/**
 * Fetch v13+ sessions name topics by id (KIP-516): a topic deleted and created again under the same name
 * has a new id, and a session opened for the old one must not go on reading the new topic under it.
 * Kafka's broker answers such a partition UNKNOWN_TOPIC_ID (its sessions hold ids), so the client looks
 * the topic up again and resets its position; read by name, the old session's offsets landed in the new
 * topic's log, in the middle of records the client never saw. Real partition log: offsets 0-9.
 */
import { decodeBatches } from '@samsa/protocol';
import type { kafka } from '@samsa/protocol/kafka';
import { describe, expect, it } from 'vitest';
import { BROKER_SETTINGS, resolveSettings } from '../../src/config.js';
import { fetch } from '../../src/kafka/fetch.js';
import { FetchSessions } from '../../src/kafka/fetch-sessions.js';
import type { BrokerContext } from '../../src/server/context.js';
import { leaderPerTest } from '../server/leader-fixture.js';
import { fetchPartition, fetchRequest } from './fetch-request.js';

const fixture = leaderPerTest('samsa-fetch-topic-ids-');
const UNKNOWN_TOPIC_ID = 100;
/** Two ids in Samsa's form (16 bytes, URL-safe base64): the topic's first incarnation and its second. */
const FIRST = Buffer.alloc(16, 1).toString('base64url');
const SECOND = Buffer.alloc(16, 2).toString('base64url');
const TEN = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

type Topic = { name: string; id: string };

/**
 * Broker 1 leading t (id FIRST). `topics` changes the metadata as the broker's metadata cache does: each
 * change is a new topics map (the listener keeps the ids it works out per map).
 */
async function topicT(): Promise<{ ctx: BrokerContext; topics: Pick<Map<string, Topic>, 'set' | 'delete'> }> {
  const { ctx } = await fixture.leader([1]);
  const image = ctx.member.metadata.image as unknown as { topics: Map<string, Topic> };
  const change = (edit: (topics: Map<string, Topic>) => void): void => {
    const next = new Map(image.topics);
    edit(next);
    image.topics = next;
  };
  const topics = {
    set: (name: string, topic: Topic) => {
      change((m) => m.set(name, topic));
      return image.topics;
    },
    delete: (name: string) => {
      const had = image.topics.has(name);
      change((m) => m.delete(name));
      return had;
    },
  };
  topics.set('t', { name: 't', id: FIRST });
  return { ctx: { ...ctx, settings: resolveSettings(BROKER_SETTINGS) } as BrokerContext, topics };
}

async function sessionFetch(
  ctx: BrokerContext,
  sessions: FetchSessions,
  session: { id: number; epoch: number },
  topics: { topicId: string; offset: number }[],
  forgotten: { topicId: string; partitions: number[] }[] = [],
) {
  const request = fetchRequest(0, {
    sessionId: session.id,
    sessionEpoch: session.epoch,
    topics: topics.map((t) => ({ topic: '', topicId: t.topicId, partitions: [fetchPartition(t.offset)] })),
    forgottenTopicsData: forgotten.map((f) => ({ topic: '', topicId: f.topicId, partitions: f.partitions })),
  });
  const reply = await fetch(ctx, 16, request, new AbortController().signal, { fetchSessions: sessions });
  const body = reply.body as kafka.FetchResponseData;
  const answers = body.responses.flatMap((t) =>
    t.partitions.map((p) => ({
      topicId: t.topicId,
      errorCode: p.errorCode,
      offsets: p.records ? decodeBatches(p.records).flatMap((b) => b.records.map((r) => r.offset)) : [],
    })),
  );
  reply.release?.();
  return { sessionId: body.sessionId ?? 0, answers };
}

describe('Fetch v13+ sessions and a topic created again under the same name', () => {
  it("answers the old id's partition UNKNOWN_TOPIC_ID instead of reading the new topic under it", async () => {
    const { ctx, topics } = await topicT();
    const sessions = new FetchSessions(10, () => 7);
    const opened = await sessionFetch(ctx, sessions, { id: 0, epoch: 0 }, [{ topicId: FIRST, offset: 5 }]);
    expect(opened.sessionId).toBe(7);
    // The stored batch holds offsets 0-9.
    expect(opened.answers).toEqual([{ topicId: FIRST, errorCode: 0, offsets: TEN }]);
    // The topic is deleted and created again: same name, new id. The client's next incremental fetch
    // changes nothing (it has not looked the topic up again yet); the session still holds offset 5.
    topics.set('t', { name: 't', id: SECOND });
    const after = await sessionFetch(ctx, sessions, { id: 7, epoch: 1 }, []);
    expect(after.answers).toEqual([{ topicId: FIRST, errorCode: UNKNOWN_TOPIC_ID, offsets: [] }]);
    // The client replaces the partition: the new id added, the old one forgotten; read under the new id.
    const replaced = await sessionFetch(
      ctx,
      sessions,
      { id: 7, epoch: 2 },
      [{ topicId: SECOND, offset: 0 }],
      [{ topicId: FIRST, partitions: [0] }],
    );
    expect(replaced.answers).toEqual([{ topicId: SECOND, errorCode: 0, offsets: TEN }]);
    // Its position moves on; nothing else is left in the session (the old id is forgotten).
    const next = await sessionFetch(ctx, sessions, { id: 7, epoch: 3 }, [{ topicId: SECOND, offset: 10 }]);
    expect(next.answers).toEqual([]);
  });

  it('forgets a partition by an id the broker no longer knows', async () => {
    const { ctx, topics } = await topicT();
    const sessions = new FetchSessions(10, () => 7);
    await sessionFetch(ctx, sessions, { id: 0, epoch: 0 }, [{ topicId: FIRST, offset: 5 }]);
    topics.delete('t');
    const forgot = await sessionFetch(ctx, sessions, { id: 7, epoch: 1 }, [], [{ topicId: FIRST, partitions: [0] }]);
    expect(forgot.answers).toEqual([]);
    // Nothing of the old topic is left in the session: neither read by name nor refused by id.
    topics.set('t', { name: 't', id: SECOND });
    expect((await sessionFetch(ctx, sessions, { id: 7, epoch: 2 }, [])).answers).toEqual([]);
  });
});
