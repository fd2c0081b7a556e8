/**
 * Real Kafka clients that nobody here wrote, run as programs: kcat (librdkafka), a sarama program
 * built offline from Debian's packages, and kafka-python. .ci/run installs them; a test that needs
 * one skips (visibly, naming it) only when it is truly missing, and in CI a missing tool fails.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));

export function toolPath(name: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Whether `tool` can run here; in CI a missing tool is an error, not a skip. */
export function available(tool: string, present: boolean): boolean {
  if (present) return true;
  if (process.env.CI) throw new Error(`${tool} is missing in CI: .ci/run must install it`);
  console.warn(`SKIPPED: ${tool} is not installed (.ci/run installs it)`);
  return false;
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion (bounded by `timeoutMs`), feeding `input` on stdin. */
export function run(
  command: string,
  args: string[],
  options: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.end(options.input ?? '');
  });
}

export const SARAMA_GOPATH = '/usr/share/gocode';

export function saramaAvailable(): boolean {
  return toolPath('go') !== undefined && existsSync(join(SARAMA_GOPATH, 'src/github.com/Shopify/sarama'));
}

/** Builds test/kafka/sarama/main.go offline against Debian's sarama (GOPATH mode, no module proxy). */
export function buildSarama(outDir: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const binary = join(outDir, 'sarama-check');
  return new Promise((resolve, reject) => {
    execFile(
      'go',
      ['build', '-o', binary, join(HERE, 'sarama/main.go')],
      {
        env: {
          ...process.env,
          GOPATH: SARAMA_GOPATH,
          GO111MODULE: 'off',
          ...(process.env.HOME || process.env.GOCACHE ? {} : { GOCACHE: join(outDir, 'gocache') }),
        },
        timeout: 300_000,
      },
      (error, _stdout, stderr) => (error ? reject(new Error(`go build failed: ${stderr}`)) : resolve(binary)),
    );
  });
}

export const KAFKA_PYTHON_CHECK = join(HERE, 'kafka-python-check.py');
/** Debian's interpreter, where python3-kafka is installed (a PATH python3 may be another one). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

function pythonModuleAvailable(module: string): boolean {
  if (!existsSync(SYSTEM_PYTHON)) return false;
  try {
    execFileSync(SYSTEM_PYTHON, ['-c', `import ${module}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const kafkaPythonAvailable = (): boolean => pythonModuleAvailable('kafka');

export const CONFLUENT_KAFKA_CHECK = join(HERE, 'confluent-kafka-check.py');
export const CONFLUENT_KAFKA_GROUP = join(HERE, 'confluent-kafka-group.py');
export const CONFLUENT_KAFKA_TXN = join(HERE, 'confluent-kafka-txn.py');
export const CONFLUENT_KAFKA_CTP = join(HERE, 'confluent-kafka-ctp.py');
export const CONFLUENT_KAFKA_ADMIN = join(HERE, 'confluent-kafka-admin.py');
export const KAFKA_PYTHON_ADMIN = join(HERE, 'kafka-python-admin.py');
export const KAFKA_PYTHON_DELETE_RECORDS = join(HERE, 'kafka-python-delete-records.py');
export const KAFKA_PYTHON_GROUP = join(HERE, 'kafka-python-group.py');
export const KAFKA_PYTHON_EMPTY_GROUP = join(HERE, 'kafka-python-empty-group.py');
export const CONFLUENT_KAFKA_COOPERATIVE = join(HERE, 'confluent-kafka-cooperative.py');
export const CONFLUENT_KAFKA_STATIC = join(HERE, 'confluent-kafka-static.py');
export const LIBRDKAFKA_LATENCY = join(HERE, 'librdkafka-latency.py');
export const confluentKafkaAvailable = (): boolean => pythonModuleAvailable('confluent_kafka');
