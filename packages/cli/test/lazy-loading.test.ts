/**
 * The CLI registers every command eagerly (names, options, help) and imports a command's code, and the
 * packages it needs, only when it runs: `samsa topics list` must not pay for loading the broker.
 * These run the built CLI (npx tsc -b first) in a child process that records every module it resolves.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_PARTITIONS_PER_TOPIC as CLIENT_MAX_PARTITIONS } from '@samsa/client';
import { buildProgram } from '../src/cli.js';
import { MAX_PARTITIONS_PER_TOPIC } from '../src/options.js';

const CLI_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const RECORDER = fileURLToPath(new URL('./fixtures/record-modules.mjs', import.meta.url));
const PACKAGES = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'samsa-cli-lazy-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `kafka-wire`: @samsa/protocol's Kafka wire code (`@samsa/protocol/kafka`), which gRPC clients never use. */
type Heavy = 'client' | 'broker' | 'coordinator' | 'pino' | 'hdr-histogram-js' | 'kafka-wire';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Which of the packages of interest the process loaded. */
  loaded: Set<Heavy>;
}

function loadedPackages(urls: readonly string[]): Set<Heavy> {
  const loaded = new Set<Heavy>();
  for (const name of ['client', 'broker', 'coordinator'] as const) {
    const dir = pathToFileURL(join(PACKAGES, name)).href;
    if (urls.some((u) => u.startsWith(`${dir}/`) || u.includes(`/node_modules/@samsa/${name}/`))) loaded.add(name);
  }
  const kafkaWire = pathToFileURL(join(PACKAGES, 'protocol', 'dist', 'kafka')).href;
  if (urls.some((u) => u.startsWith(`${kafkaWire}/`) || u.includes('/node_modules/@samsa/protocol/dist/kafka/')))
    loaded.add('kafka-wire');
  for (const name of ['pino', 'hdr-histogram-js'] as const)
    if (urls.some((u) => u.includes(`/node_modules/${name}/`))) loaded.add(name);
  return loaded;
}

let runs = 0;
function samsa(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  const out = join(work, `modules-${runs++}.txt`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(RECORDER).href, CLI_MAIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...env, SAMSA_TEST_MODULES_OUT: out },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const urls = readFileSync(out, 'utf8').split('\n').filter(Boolean);
      resolve({ code, stdout, stderr, loaded: loadedPackages(urls) });
    });
  });
}

/** A port nobody listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

const TOP_LEVEL = [
  'dev',
  'broker',
  'coordinator',
  'topics',
  'configs',
  'delete-records',
  'leader-election',
  'reassign-partitions',
  'produce',
  'consume',
  'consumer-groups',
  'transactions',
  'log',
  'bench',
];

describe('samsa loads only what a command needs', () => {
  it('--help lists every command, without loading the SDK, the servers or the bench code', async () => {
    const run = await samsa(['--help']);
    expect(run.code).toBe(0);
    const commands = run.stdout.slice(run.stdout.indexOf('\nCommands:\n'));
    const listed = [...commands.matchAll(/^ {2}([a-z-]+)/gm)].map((m) => m[1]);
    expect(listed).toEqual([...TOP_LEVEL, 'help']);
    expect([...run.loaded]).toEqual([]);
  });

  it("every command's help names each of its subcommands", () => {
    const check = (command: ReturnType<typeof buildProgram>) => {
      const help = command.helpInformation();
      for (const sub of command.commands) {
        expect(help).toContain(`  ${sub.name()}`);
        check(sub);
      }
    };
    const program = buildProgram();
    expect(program.commands.map((c) => c.name())).toEqual(TOP_LEVEL);
    check(program);
  });

  it('topics list loads the SDK, not the broker, coordinator or Kafka wire code, and fails in one line', async () => {
    const run = await samsa(['topics', 'list', '--bootstrap-server', `127.0.0.1:${await closedPort()}`]);
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^samsa: /);
    expect(run.loaded).toEqual(new Set(['client']));
  });

  it('produce --help and consume --help print the options without loading the SDK', async () => {
    for (const command of ['produce', 'consume']) {
      const run = await samsa([command, '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('--topic <name>');
      expect([...run.loaded]).toEqual([]);
    }
  });

  it('a usage error is reported before anything is loaded', async () => {
    const run = await samsa(['topics', 'create', '--topic', 't', '--partitions', String(MAX_PARTITIONS_PER_TOPIC + 1)]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--partitions must be an integer from 1 to ${MAX_PARTITIONS_PER_TOPIC}`);
    expect([...run.loaded]).toEqual([]);
  });

  it('broker settings loads the broker (the recorder sees it) and not the coordinator', async () => {
    const run = await samsa(['broker', 'settings']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('num.partitions');
    expect(run.loaded.has('broker')).toBe(true);
    expect(run.loaded.has('coordinator')).toBe(false);
  });

  it("keeps the modules' compiled code in the compile cache of the temp dir for the next run", async () => {
    const tmp = join(work, 'tmp');
    mkdirSync(tmp);
    const { NODE_COMPILE_CACHE: _dir, NODE_DISABLE_COMPILE_CACHE: _off, ...env } = process.env;
    const run = await samsa(['--help'], { ...env, TMPDIR: tmp, TMP: tmp, TEMP: tmp });
    expect(run.code).toBe(0);
    const cached = readdirSync(join(tmp, 'node-compile-cache'), { recursive: true, withFileTypes: true });
    expect(cached.filter((e) => e.isFile()).length).toBeGreaterThan(10);
  });

  it("the CLI's partition bound is the protocol's", () => {
    expect(MAX_PARTITIONS_PER_TOPIC).toBe(CLIENT_MAX_PARTITIONS);
  });
});
