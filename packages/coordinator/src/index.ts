/**
 * @samsa/coordinator: the embedded ZooKeeper-compatible coordination service. Start it in-process
 * (startCoordinator) or as the `samsa coordinator start` command does (runCoordinator); the data tree,
 * sessions and the jute codec stay internal.
 */
export { startCoordinator, type CoordinatorOptions, type RunningCoordinator } from './server.js';
export { parseCoordinatorArgs, runCoordinator, type CoordinatorArgs } from './cli.js';
