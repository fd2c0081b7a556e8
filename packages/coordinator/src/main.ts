/**
 * `node packages/coordinator/dist/main.js --port P --data-dir D [--host H] [--tick-time-ms N] [--snapshot-every-txns
 * N]`
 * Logs pino JSON to stdout; the "coordinator listening" line means it accepts clients.
 */
import { pino } from 'pino';
import { parseCoordinatorArgs, runCoordinator } from './cli.js';

const logger = pino({ name: 'samsa-coordinator' });
let args: ReturnType<typeof parseCoordinatorArgs>;
try {
  args = parseCoordinatorArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
try {
  const { stopped } = await runCoordinator({ ...args, logger });
  await stopped;
  process.exit(0);
} catch (err) {
  logger.fatal({ err }, 'coordinator failed');
  process.exit(1);
}
