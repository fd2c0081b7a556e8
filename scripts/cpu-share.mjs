#!/usr/bin/env node
/**
 * Runs a command with it and every process it starts held to a share of one CPU, through a cgroup CPU
 * quota (needs root; cgroup v1's cpu controller or cgroup v2 with cpu enabled). What a loaded machine
 * does to a test, without loading the machine: at load L on N cores a runnable process gets about N/L
 * of a core, so a share of 0.14 stands for load ~14 on two cores. The share covers the whole tree of
 * processes together (a test's runner, coordinator and brokers), so it slows them evenly; a race that
 * needs one process to lag behind another is better provoked with SIGSTOP.
 *
 *   node scripts/cpu-share.mjs 0.14 -- npx vitest run test/integration/delete-records.test.ts
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PERIOD_US = 100_000;

function usage(message) {
  process.stderr.write(`cpu-share: ${message}\nusage: node scripts/cpu-share.mjs SHARE -- COMMAND [ARGS...]\n`);
  process.exit(2);
}

/** A new cgroup with the quota set, and the file a process joins it through. */
function makeGroup(share) {
  const name = `samsa-cpu-share-${process.pid}`;
  const quotaUs = Math.max(1000, Math.round(share * PERIOD_US));
  const v1 = '/sys/fs/cgroup/cpu';
  if (existsSync(join(v1, 'cpu.cfs_quota_us'))) {
    const dir = join(v1, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
    return { dir, procs: join(dir, 'cgroup.procs') };
  }
  const v2 = '/sys/fs/cgroup';
  const controllers = existsSync(join(v2, 'cgroup.subtree_control'))
    ? readFileSync(join(v2, 'cgroup.subtree_control'), 'utf8')
    : '';
  if (!controllers.split(/\s+/).includes('cpu')) usage('no cgroup CPU controller found (v1 cpu or v2 with +cpu)');
  const dir = join(v2, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'cpu.max'), `${quotaUs} ${PERIOD_US}`);
  return { dir, procs: join(dir, 'cgroup.procs') };
}

const [shareArg, dashes, ...command] = process.argv.slice(2);
const share = Number(shareArg);
if (!(share > 0 && share <= 64) || dashes !== '--' || command.length === 0) usage('give a share and a command');
const group = makeGroup(share);
// The shell joins the group, then becomes the command: nothing runs outside the quota.
const child = spawn('sh', ['-c', 'echo $$ > "$CPU_SHARE_PROCS" && exec "$@"', 'cpu-share', ...command], {
  stdio: 'inherit',
  env: { ...process.env, CPU_SHARE_PROCS: group.procs },
});
const started = Date.now();
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
/** Removes the group once its last process is gone (a command's children may outlive it by a moment). */
async function removeGroup(waitMs) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      rmdirSync(group.dir);
      return;
    } catch (err) {
      if (Date.now() >= deadline) {
        process.stderr.write(`cpu-share: ${group.dir} left behind (processes still in it): ${err.message}\n`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

child.on('exit', async (code, signal) => {
  process.stderr.write(`cpu-share: ${share} of a CPU, ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  await removeGroup(30_000);
  process.exit(code ?? (signal ? 1 : 0));
});
