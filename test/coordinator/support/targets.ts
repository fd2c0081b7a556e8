/**
 * The two servers the conformance suite runs the same cases against: a real Apache ZooKeeper (the
 * oracle) and Samsa's embedded coordinator, both with the same tick so that session-timeout bounds
 * ([2, 20] ticks) and expiry times are comparable.
 */
import { embeddedCoordinatorAvailability, startEmbeddedCoordinator } from '../../helpers/coordinator.js';
import { startZooKeeper, zookeeperAvailability, type Availability } from '../../helpers/zookeeper.js';

export type TargetName = 'zookeeper' | 'embedded';
export const TARGET_NAMES: readonly TargetName[] = ['zookeeper', 'embedded'];

/** Small enough that session expiry tests take about a second, like ZooKeeper's own tests. */
export const TEST_TICK_TIME_MS = 500;

export interface RunningTarget {
  readonly name: TargetName;
  readonly host: string;
  readonly port: number;
  readonly connectString: string;
  readonly tickTimeMs: number;
  stop(): Promise<void>;
}

export async function targetAvailability(name: TargetName): Promise<Availability> {
  return name === 'zookeeper' ? zookeeperAvailability() : embeddedCoordinatorAvailability();
}

export async function startTarget(name: TargetName): Promise<RunningTarget> {
  const tickTimeMs = TEST_TICK_TIME_MS;
  const server =
    name === 'zookeeper' ? await startZooKeeper({ tickTimeMs }) : await startEmbeddedCoordinator({ tickTimeMs });
  return {
    name,
    host: server.host,
    port: server.port,
    connectString: server.connectString,
    tickTimeMs,
    stop: () => server.stop(),
  };
}
