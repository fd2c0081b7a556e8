/**
 * The CLI as one step of a shell pipeline and as a first-time user meets it (issue 16): a reader that
 * stops early, --version, one error prefix, defaults in help only where they say something, and the
 * producer's settings reachable from the command line.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSamsa, type CliRun } from '../helpers/cli.js';
import { CLI_MAIN, LocalCluster } from '../helpers/cluster.js';

let cluster: LocalCluster;
let bootstrap: string;

beforeAll(async () => {
  cluster = await LocalCluster.start({ brokers: 1 });
  bootstrap = cluster.bootstrap[0]!;
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

/** `script` run by bash with pipefail, so the exit code is the first failing command's (as a user's shell sees it). */
function shell(script: string, env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `set -o pipefail; ${script}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('samsa in a pipeline', () => {
  it('consume | head -3 ends quietly with exit 0 when head closes the pipe', async () => {
    const topic = `pipe-${process.pid}`;
    // Far more than a pipe buffer (64 KiB), so the consumer is still writing when head exits.
    const lines = Array.from({ length: 20_000 }, (_, i) => `record ${i} ${'x'.repeat(40)}`);
    const produced = await runSamsa(
      ['produce', '--topic', topic, '--bootstrap-server', bootstrap],
      `${lines.join('\n')}\n`,
    );
    expect(produced).toMatchObject({ code: 0, stderr: '' });
    const run = await shell(
      `node ${CLI_MAIN} consume --topic ${topic} --from-beginning --timeout-ms 20000 ` +
        `--bootstrap-server ${bootstrap} | head -3`,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${lines.slice(0, 3).join('\n')}\n`);
  });

  it('--version prints the version', async () => {
    const run = await runSamsa(['--version']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
  });

  it('errors have one prefix and fit on one line, usage errors included', async () => {
    const badConfig = await runSamsa([
      'topics',
      'create',
      '--topic',
      `bad-config-${process.pid}`,
      '--config',
      'foo=1',
      '--bootstrap-server',
      bootstrap,
    ]);
    expect(badConfig.code).toBe(1);
    expect(badConfig.stderr).toMatch(/^samsa: InvalidConfig: unknown topic setting 'foo'[^\n]*\n$/);

    const usage = await runSamsa(['produce']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe("samsa: required option '--topic <name>' not specified (run with --help for usage)\n");
  });

  it('help shows the defaults that say something, not an empty object', async () => {
    const help = await runSamsa(['topics', 'create', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).not.toMatch(/default: \{\}/);
    expect(help.stdout).toMatch(/--config <key=value>/);
  });

  it('--producer-property reaches the producer: 1 MiB+ records pass with a larger max.request.size', async () => {
    const topic = `big-${process.pid}`;
    const created = await runSamsa([
      'topics',
      'create',
      '--topic',
      topic,
      '--config',
      'max.message.bytes=4000000',
      '--bootstrap-server',
      bootstrap,
    ]);
    expect(created.code).toBe(0);
    const big = `${'y'.repeat(1_500_000)}\n`;
    const refused = await runSamsa(['produce', '--topic', topic, '--bootstrap-server', bootstrap], big);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/exceeds maxRequestSize 1048576/);

    const sent = await runSamsa(
      ['produce', '--topic', topic, '--producer-property', 'max.request.size=4000000', '--bootstrap-server', bootstrap],
      big,
    );
    expect(sent).toMatchObject({ code: 0, stderr: '' });

    const unknown = await runSamsa(['produce', '--topic', topic, '--producer-property', 'max.requst.size=1'], big);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^samsa: unknown producer property 'max.requst.size' \(known: acks, /);
  });
});
