/**
 * Coordinator conformance: the same cases run against a real Apache ZooKeeper (the oracle) and against
 * Samsa's embedded coordinator, through node-zookeeper-client (and a raw wire client where the library
 * cannot go). Each case asserts ZooKeeper's actual behaviour on its own, and records a normalized
 * transcript; where both targets ran, the transcripts must be equal.
 *
 * A target that cannot run here (no Java / ZooKeeper package; coordinator not written yet) is skipped
 * with a warning that says why.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test, type TestContext } from 'vitest';
import { adminCases } from './cases/admin.js';
import { multiCases } from './cases/multi.js';
import { nodeCases } from './cases/nodes.js';
import { newerOpCases } from './cases/newer-ops.js';
import { protocolCases } from './cases/protocol.js';
import { randomCases } from './cases/random.js';
import { sessionCases } from './cases/sessions.js';
import { watchCases } from './cases/watches.js';
import { ZkTestClient } from '../helpers/zk-client.js';
import { CaseContext, type ConformanceCase } from './support/case-context.js';
import {
  startTarget,
  targetAvailability,
  TARGET_NAMES,
  type RunningTarget,
  type TargetName,
} from './support/targets.js';
import type { TranscriptEntry } from './support/transcript.js';
import { KNOWN_DIFFERENCES } from './known-differences.js';

const cases: ConformanceCase[] = [
  ...nodeCases,
  ...multiCases,
  ...watchCases,
  ...sessionCases,
  ...adminCases,
  ...protocolCases,
  ...newerOpCases,
  ...randomCases,
];

/** SAMSA_CONFORMANCE_TARGETS=zookeeper (or embedded) runs one side only. */
const selected = (process.env.SAMSA_CONFORMANCE_TARGETS ?? TARGET_NAMES.join(','))
  .split(',')
  .map((name) => name.trim());
const availability = new Map(
  await Promise.all(
    TARGET_NAMES.map(async (name) => {
      const status = selected.includes(name)
        ? await targetAvailability(name)
        : { available: false as const, reason: 'not selected by SAMSA_CONFORMANCE_TARGETS' };
      return [name, status] as const;
    }),
  ),
);
for (const [name, status] of availability) {
  if (!status.available) console.warn(`[coordinator conformance] SKIPPING the '${name}' target: ${status.reason}`);
}

const knownDifferences = process.env.SAMSA_CONFORMANCE_STRICT === '1' ? {} : KNOWN_DIFFERENCES;
if (availability.get('embedded')?.available) {
  for (const [name, difference] of Object.entries(knownDifferences)) {
    console.warn(
      `[coordinator conformance] KNOWN DIFFERENCE listed (a failure ` +
        `on 'embedded' is reported as skipped): ${name}: ${difference}`,
    );
  }
}

/**
 * Runs `body`; for a known difference of the embedded coordinator, a failure skips the test with the
 * difference's note (visible in vitest's report) and a pass warns that the entry is stale.
 */
async function runCase(
  context: TestContext,
  targetName: TargetName | 'comparison',
  caseName: string,
  body: () => Promise<void> | void,
): Promise<void> {
  const note = targetName === 'zookeeper' ? undefined : knownDifferences[caseName];
  if (note === undefined) return body();
  try {
    await body();
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    console.warn(`[coordinator conformance] KNOWN DIFFERENCE still present (${targetName}): ${caseName}: ${message}`);
    context.skip(`known difference: ${note}`);
  }
  console.warn(
    `[coordinator conformance] known difference no longer reproduces (${targetName}): ` +
      `'${caseName}': remove it from test/coordinator/known-differences.ts`,
  );
}

/** transcripts.get(caseName).get(target) */
const transcripts = new Map<string, Map<TargetName, TranscriptEntry[]>>();

function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60);
}

for (const targetName of TARGET_NAMES) {
  describe.skipIf(!availability.get(targetName)?.available)(`coordinator conformance against ${targetName}`, () => {
    let target: RunningTarget | undefined;

    beforeAll(async () => {
      target = await startTarget(targetName);
    });

    afterAll(async () => {
      await target?.stop();
    });

    cases.forEach((conformanceCase, index) => {
      test(conformanceCase.name, async (context) => {
        if (!target) throw new Error(`${targetName} did not start`);
        const running = target;
        const base = `/t${String(index).padStart(2, '0')}-${slug(conformanceCase.name)}`;
        const setup = await ZkTestClient.connect(target.connectString);
        await setup.create(base);
        await setup.close();
        const caseContext = new CaseContext(running, base);
        await runCase(context, targetName, conformanceCase.name, async () => {
          try {
            await conformanceCase.run(caseContext);
          } finally {
            caseContext.transcript.seal();
            await caseContext.cleanup();
            const perTarget = transcripts.get(conformanceCase.name) ?? new Map<TargetName, TranscriptEntry[]>();
            perTarget.set(targetName, caseContext.transcript.finalize());
            transcripts.set(conformanceCase.name, perTarget);
          }
        });
      });
    });
  });
}

/** SAMSA_CONFORMANCE_DUMP=<file>: write every recorded transcript there (JSON), for diffing by hand. */
afterAll(() => {
  const file = process.env.SAMSA_CONFORMANCE_DUMP;
  if (!file) return;
  const dump = Object.fromEntries([...transcripts].map(([name, perTarget]) => [name, Object.fromEntries(perTarget)]));
  writeFileSync(file, `${JSON.stringify(dump, null, 2)}\n`);
});

const bothRun = TARGET_NAMES.every((name) => availability.get(name)?.available);
describe.skipIf(!bothRun)('coordinator transcripts equal ZooKeeper transcripts', () => {
  for (const conformanceCase of cases) {
    test(conformanceCase.name, async (context) => {
      const perTarget = transcripts.get(conformanceCase.name);
      const zookeeper = perTarget?.get('zookeeper');
      expect(zookeeper, 'the ZooKeeper run of this case recorded no transcript').toBeDefined();
      await runCase(context, 'comparison', conformanceCase.name, () => {
        const embedded = perTarget?.get('embedded');
        expect(embedded, 'the embedded run of this case recorded no transcript').toBeDefined();
        expect(embedded).toEqual(zookeeper);
      });
    });
  }
});
