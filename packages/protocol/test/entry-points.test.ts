/**
 * The package's two entry points as Node resolves them from package.json's `exports` (the built dist/:
 * npx tsc -b first): the main one without the Kafka wire code, `@samsa/protocol/kafka` with it.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

function evaluate(script: string): unknown {
  // Run from the package's directory: `@samsa/protocol` resolves to itself through its own exports.
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: PACKAGE_DIR,
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(run.stderr);
  return JSON.parse(run.stdout);
}

describe('@samsa/protocol entry points', () => {
  it('the main entry does not carry the Kafka wire code; @samsa/protocol/kafka does, as `kafka` and by name', () => {
    const seen = evaluate(
      "const main = await import('@samsa/protocol'); const wire = await import('@samsa/protocol/kafka');" +
        'console.log(JSON.stringify({ mainHasKafka: "kafka" in main, mainHasErrors: "ErrorCodes" in main,' +
        ' namespace: typeof wire.kafka?.decodeRequest, named: typeof wire.decodeRequest,' +
        ' same: wire.kafka?.KAFKA_APIS === wire.KAFKA_APIS }));',
    );
    expect(seen).toEqual({
      mainHasKafka: false,
      mainHasErrors: true,
      namespace: 'function',
      named: 'function',
      same: true,
    });
  });
});
