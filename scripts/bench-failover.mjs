// A producer's view of a leadership change: a 3-broker cluster (RF 3, min.insync.replicas 2, one
// partition), one SDK producer (acks=all, idempotent, the client's default retry backoff) sending one
// record at a time while the partition's leader changes: `--fault kill` SIGKILLs it (one fault a run;
// zookeeper.session.timeout.ms is --session-ms), `--fault pause` SIGSTOPs it instead (SIGCONT once a send
// started after the pause was answered), `--fault kill-follower` a follower instead (the leader
// keeps the partition in a new epoch once the follower leaves the ISR: its term starts again),
// `--fault elect` makes the next replica the preferred one
// (a reassignment that only reorders) and asks for a preferred election, --moves times a run. Per fault:
// the longest send from the fault until the new leader answered and --after-ms more passed, the time
// from the fault to the first answer of a send started after it (kill), and the producer's retries by
// error code (6: NOT_LEADER_OR_FOLLOWER). With several --build checkouts the builds alternate run by run,
// so an A/B shares the machine's load; the client is this checkout's, or with --build-client each
// build's own (packages/client/dist). --timeline prints, per fault, when the brokers logged the election,
// the partition's new roles and refused replica fetches (the brokers log at debug level then) and when
// the client retried, saw the new leader and had a slow send acknowledged.
//   flock /tmp/samsa-bench.lock node scripts/bench-failover.mjs --fault elect --build A --build B --runs 2
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Samsa as ThisSamsa } from '@samsa/client';
import { startCluster } from './bench-processes.mjs';

const { values } = parseArgs({
  options: {
    build: { type: 'string', multiple: true },
    runs: { type: 'string', default: '3' },
    'session-ms': { type: 'string', default: '3000' },
    'after-ms': { type: 'string', default: '1000' },
    fault: { type: 'string', default: 'kill' },
    moves: { type: 'string', default: '4' },
    timeline: { type: 'boolean', default: false },
    'build-client': { type: 'boolean', default: false },
    'request-timeout-ms': { type: 'string', default: '4000' },
  },
});
const builds = values.build ?? [undefined];
const runs = Number(values.runs);
const sessionMs = Number(values['session-ms']);

/** With --timeline: what the client and the brokers logged about the partition, with Date.now() times. */
const events = [];
/** Broker log lines (pino JSON) that tell where a failover's time goes. */
const TIMELINE_MESSAGES = new Set([
  'partition state change',
  'partition role changed',
  'elected controller',
  // Debug lines: with --timeline the brokers log at debug level.
  'replica fetch refused',
  'replica fetch failed; backing off',
]);

function timelineLog(child, id) {
  let rest = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    for (const line of lines) {
      if (!line.includes('"msg"')) continue;
      try {
        const { time, msg, topic, after, cause, fetchingFrom, message } = JSON.parse(line);
        if (!TIMELINE_MESSAGES.has(msg) || (topic !== undefined && topic !== 'f')) continue;
        let detail = after ? ` leader ${after.leader} epoch ${after.leaderEpoch} (${cause})` : '';
        if (fetchingFrom !== undefined) detail = ` from broker ${fetchingFrom}${message ? `: ${message}` : ''}`;
        events.push({ at: time, what: `broker ${id}: ${msg}${detail}` });
      } catch {}
    }
  });
}

/** Counts the producer's retries by error code (the client logs each 'produce failed, will retry'). */
function countingLogger(retriesByCode, refusals) {
  const count = (context, message) => {
    if (values.timeline && context?.topic === 'f') {
      const detail = message === 'partition leader changed' ? ` to ${context.leader}` : `: ${context?.err?.message}`;
      events.push({ at: Date.now(), what: `client: ${message}${detail}` });
    }
    if (message !== 'produce failed, will retry') return;
    const code = context?.err?.code ?? 'other';
    retriesByCode[code] = (retriesByCode[code] ?? 0) + 1;
    // Which broker refused: the old leader says it does not lead; a new one whose term has not started,
    // that it is not the leader (LeaderDriver) or that it does not lead (before the role).
    if (code === 6) refusals.push(String(context.err.message).replace(/\d+/g, 'N'));
  };
  return { debug: count, info: () => {}, warn: count, error: count };
}

async function waitFor(probe, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends one record at a time until stopped, keeping each send's start and answer times. */
function writer(producer) {
  const sends = [];
  let running = true;
  const done = (async () => {
    for (let seq = 0; running; seq++) {
      const sentAt = Date.now();
      await producer.send({ topic: 'f', partition: 0, value: `v${seq}` });
      const ackAt = Date.now();
      sends.push({ sentAt, ackAt });
      if (values.timeline && ackAt - sentAt >= 20)
        events.push({ at: ackAt, sentAt, what: `client: acknowledged after ${ackAt - sentAt} ms` });
    }
  })();
  return {
    sends,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** Waits until a send that started after `since` was answered. */
function firstAckAfter(sends, since) {
  return waitFor(async () => sends.find((s) => s.sentAt >= since), 'a send answered after the fault');
}

function printTimeline(faultAt, first) {
  const lines = [...events, { at: first.ackAt, what: 'first acknowledgement of a send started after the fault' }];
  lines.sort((a, b) => a.at - b.at);
  for (const e of lines) {
    if (e.at < faultAt) continue;
    const started = e.sentAt === undefined ? '' : ` (sent at ${e.sentAt - faultAt} ms)`;
    console.log(`  +${String(e.at - faultAt).padStart(5)} ms ${e.what}${started}`);
  }
}

async function oneRun(build) {
  const Samsa =
    build && values['build-client']
      ? (await import(pathToFileURL(join(build, 'packages/client/dist/index.js')).href)).Samsa
      : ThisSamsa;
  const cluster = await startCluster({
    brokers: 3,
    name: 'failover',
    ...(build && { build }),
    overrides: { 'zookeeper.session.timeout.ms': String(sessionMs), 'replica.lag.time.max.ms': '2000' },
    ...(values.timeline && { brokerStdout: timelineLog, logLevel: 'debug' }),
  });
  const retriesByCode = {};
  const refusals = [];
  const options = { brokers: cluster.addresses, requestTimeoutMs: 4000, metadataMaxAgeMs: 2000 };
  const admin = new Samsa(options);
  const client = new Samsa({
    ...options,
    requestTimeoutMs: Number(values['request-timeout-ms']),
    logger: countingLogger(retriesByCode, refusals),
  });
  const faults = [];
  try {
    // Refused (InvalidReplicationFactor) until all three brokers have registered.
    const topic = { topic: 'f', numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } };
    await waitFor(async () => (await admin.admin().createTopics([topic])) ?? true, 'the topic created');
    const describe = async () => (await admin.admin().describeTopics(['f']))[0].partitions[0];
    const settled = () =>
      waitFor(async () => {
        const p = await describe();
        return p.leader >= 0 && p.isr.length === 3 && (p.addingReplicas ?? []).length === 0 && p;
      }, 'a leader and a full ISR');
    await settled();
    const producer = client.producer({ acks: 'all', lingerMs: 0, deliveryTimeoutMs: 60_000 });
    const w = writer(producer);
    await waitFor(async () => w.sends.length >= 50, 'the writes to get going');
    const moves = values.fault === 'elect' ? Number(values.moves) : 1;
    for (let move = 0; move < moves; move++) {
      const before = await settled();
      if (values.fault === 'elect') {
        // The next replica becomes the preferred one, then a preferred election hands it the partition.
        const replicas = [...before.replicas.filter((r) => r !== before.leader), before.leader];
        await admin.admin().alterPartitionReassignments([{ topic: 'f', partition: 0, replicas }]);
        await waitFor(async () => (await settled()).replicas[0] === replicas[0], 'the new replica order');
      }
      await new Promise((r) => setTimeout(r, 500));
      for (const code of Object.keys(retriesByCode)) delete retriesByCode[code];
      refusals.length = 0;
      const faultAt = Date.now();
      events.length = 0;
      const follower = before.replicas.find((r) => r !== before.leader);
      const leaderChild = cluster.brokers[before.leader - 1].child;
      if (values.fault === 'kill') leaderChild.kill('SIGKILL');
      else if (values.fault === 'pause') leaderChild.kill('SIGSTOP');
      else if (values.fault === 'kill-follower') cluster.brokers[follower - 1].child.kill('SIGKILL');
      else void admin.admin().electPreferredLeaders([{ topic: 'f', partitions: [0] }]);
      const first = await firstAckAfter(w.sends, faultAt + 1);
      if (values.fault === 'pause') leaderChild.kill('SIGCONT');
      // The election happens a moment after it is asked for: the window ends once the new leader (in
      // metadata) has answered a send that started after it showed, and after-ms more have passed.
      if (values.fault === 'kill-follower')
        // The leader stays; the dead follower leaves the ISR (a new epoch of the same leader).
        await waitFor(async () => !(await describe()).isr.includes(follower), 'the ISR without the follower');
      else await waitFor(async () => (await describe()).leader !== before.leader, 'the new leader in metadata');
      await firstAckAfter(w.sends, Date.now());
      await new Promise((r) => setTimeout(r, Number(values['after-ms'])));
      if (values.timeline) printTimeline(faultAt, first);
      const during = w.sends.filter((s) => s.ackAt >= faultAt);
      faults.push({
        maxSendMs: Math.max(...during.map((s) => s.ackAt - s.sentAt)),
        faultToAckMs: first.ackAt - faultAt,
        notLeaderRetries: retriesByCode[6] ?? 0,
        retriesByCode: { ...retriesByCode },
        refusals: [...refusals],
        from: before.leader,
        to: (await describe()).leader,
      });
    }
    await w.stop();
    await producer.close();
    return faults;
  } finally {
    await client.close();
    await admin.close();
    await cluster.stop();
  }
}

const results = builds.map(() => []);
for (let run = 0; run < runs; run++) {
  // Alternate the order so neither build always runs on the warmer machine.
  const order = builds.map((_, i) => i);
  if (run % 2 === 1) order.reverse();
  for (const i of order) {
    const load = loadavg()[0].toFixed(1);
    for (const r of await oneRun(builds[i])) {
      results[i].push(r);
      console.log(JSON.stringify({ build: builds[i] ?? '.', run, load1: load, ...r }));
    }
  }
}
for (const [i, list] of results.entries()) {
  const max = list.map((r) => r.maxSendMs).sort((a, b) => a - b);
  const first = list.map((r) => r.faultToAckMs).sort((a, b) => a - b);
  const retries = list.map((r) => r.notLeaderRetries);
  console.log(
    `${builds[i] ?? '.'}: max send ms ${max.join(' ')} | fault to first ack ms ${first.join(' ')}` +
      ` | NOT_LEADER retries ${retries.join(' ')}`,
  );
}
