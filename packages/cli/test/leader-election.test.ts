import { describe, expect, it } from 'vitest';
import { ErrorCodes, SamsaClientError } from '@samsa/client';
import { electionTargets, formatElection } from '../src/commands/leader-election.js';

describe('samsa leader-election', () => {
  it('turns its options into targets, and refuses anything but exactly one scope', () => {
    expect(electionTargets({ electionType: 'PREFERRED', allTopicPartitions: true })).toEqual([]);
    expect(electionTargets({ electionType: 'preferred', topic: 't' })).toEqual([{ topic: 't' }]);
    expect(electionTargets({ electionType: 'preferred', topic: 't', partition: 3 })).toEqual([
      { topic: 't', partitions: [3] },
    ]);
    const usage = (o: Parameters<typeof electionTargets>[0]) => {
      try {
        electionTargets(o);
      } catch (err) {
        return [(err as { exitCode: number }).exitCode, (err as Error).message];
      }
      return undefined;
    };
    expect(usage({ electionType: 'unclean', allTopicPartitions: true })?.[0]).toBe(2);
    expect(usage({ electionType: 'preferred' })).toEqual([
      2,
      'name the partitions: --all-topic-partitions, or --topic (with --partition for one)',
    ]);
    expect(usage({ electionType: 'preferred', allTopicPartitions: true, topic: 't' })?.[0]).toBe(2);
    expect(usage({ electionType: 'preferred', partition: 1 })).toEqual([2, '--partition needs --topic']);
  });

  it('prints the elected, the already elected and each failure, as kafka-leader-election does', () => {
    const notAvailable = new SamsaClientError(
      ErrorCodes.PREFERRED_LEADER_NOT_AVAILABLE,
      'preferred leader 1 of t-2 is not alive',
      { topic: 't', partition: 2 },
    );
    const notNeeded = new SamsaClientError(ErrorCodes.ELECTION_NOT_NEEDED, 'broker 2 already leads t-1', {
      topic: 't',
      partition: 1,
    });
    const { lines, failed } = formatElection([
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1, error: notNeeded },
      { topic: 't', partition: 2, error: notAvailable },
      { topic: 'u', partition: 0 },
    ]);
    expect(lines).toEqual([
      'Successfully completed leader election (PREFERRED) for partitions t-0, u-0',
      'Valid replica already elected for partitions t-1',
      'Error completing leader election (PREFERRED) for partition t-2: ' +
        'PreferredLeaderNotAvailable: preferred leader 1 of t-2 is not alive',
    ]);
    expect(failed).toBe(1);
    expect(formatElection([])).toEqual({ lines: ['No partitions to elect leaders for.'], failed: 0 });
  });
});
