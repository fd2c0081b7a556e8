/**
 * The simulation's controller backed by the real ControllerCore (one topic, one partition), so the
 * replication cores are checked against the controller's actual election and AlterIsr rules.
 * AlterPartition is answered with the core's own error codes; the broker's driver maps them.
 */
import { ControllerCore, type StepOutput } from '../../../src/controller/core.js';
import { UNCLEAN_LEADER_ELECTION_CONFIG } from '../../../src/controller/types.js';
import type { AlterPartitionRequest } from '../../../src/replication/index.js';
import {
  type AlterIsrAnswer,
  type ControllerFactory,
  InvariantViolation,
  type PartitionState,
  type SimController,
} from './cluster.js';

const TOPIC = 'sim';

class CoreController implements SimController {
  private readonly core = new ControllerCore();
  readonly epochLeaders = new Map<number, number>();
  uncleanElections = 0;

  constructor(
    readonly replicas: readonly number[],
    unclean: boolean,
    private readonly onChange: (state: PartitionState) => void,
  ) {
    const out = this.core.step({
      type: 'ControllerElected',
      controllerEpoch: 1,
      snapshot: {
        liveBrokerIds: [...replicas],
        pendingDeletions: [],
        topics: [
          {
            name: TOPIC,
            configs: { [UNCLEAN_LEADER_ELECTION_CONFIG]: String(unclean) },
            hasConfigZnode: true,
            hasPartitionsZnode: true,
            partitions: [
              {
                replicas,
                state: { leader: replicas[0]!, leaderEpoch: 0, isr: [...replicas], controllerEpoch: 1 },
                stateZkVersion: 0,
                hasPartitionZnode: true,
              },
            ],
          },
        ],
      },
    });
    this.epochLeaders.set(0, replicas[0]!);
    this.record(out, false);
  }

  get state(): PartitionState {
    const p = this.core.topic(TOPIC)!.partitions[0]!;
    const s = p.state!;
    return { leader: s.leader, leaderEpoch: s.leaderEpoch, isr: s.isr, zkVersion: p.stateZkVersion };
  }

  get live(): ReadonlySet<number> {
    return new Set(this.core.liveBrokerIds);
  }

  brokerDown(id: number): void {
    this.record(this.core.step({ type: 'BrokerDown', brokerId: id }));
  }

  brokerUp(id: number): void {
    this.record(this.core.step({ type: 'BrokerUp', brokerId: id }));
  }

  alterIsr(request: AlterPartitionRequest): AlterIsrAnswer {
    const out = this.core.step({
      type: 'AlterIsr',
      topic: TOPIC,
      partition: 0,
      leaderId: request.brokerId,
      leaderEpoch: request.leaderEpoch,
      stateZkVersion: request.partitionZkVersion,
      newIsr: request.newIsr,
    });
    const result = out.results[0]!;
    this.record(out);
    return { errorCode: result.error.code, errorMessage: result.message };
  }

  private record(out: StepOutput, notify = true): void {
    for (const change of out.changes) {
      if (change.unclean) this.uncleanElections++;
      if (change.after.leader !== -1 && change.after.leaderEpoch !== change.before?.leaderEpoch) {
        const previous = this.epochLeaders.get(change.after.leaderEpoch);
        if (previous !== undefined && previous !== change.after.leader) {
          throw new InvariantViolation(
            'one leader per epoch',
            `controller elected ${previous} and ${change.after.leader} for epoch ${change.after.leaderEpoch}`,
          );
        }
        this.epochLeaders.set(change.after.leaderEpoch, change.after.leader);
      }
    }
    if (notify && out.changes.length > 0) this.onChange(this.state);
  }
}

export const coreController: ControllerFactory = (replicas, unclean, onChange) =>
  new CoreController(replicas, unclean, onChange);
