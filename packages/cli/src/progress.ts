import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, label?: string): void;
  stop(): void;
}

/** Minimum time between two plain progress lines when stderr is not a terminal (CI logs). */
const PLAIN_INTERVAL_MS = 2_000;

/**
 * A progress display on stderr: a live bar on a terminal (cli-progress), an occasional plain line
 * otherwise, so long work is visible in both without flooding logs.
 */
export function progress(title: string): Progress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${title} [{bar}] {percentage}% {value}/{total} {label}`,
        hideCursor: true,
        clearOnComplete: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total, label = '') {
        if (!started) {
          bar.start(total, done, { label });
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(done, { label });
        }
      },
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  return {
    update(done, total, label = '') {
      const now = Date.now();
      if (now - last < PLAIN_INTERVAL_MS && done < total) return;
      last = now;
      process.stderr.write(`${title}: ${done}/${total}${label ? ` ${label}` : ''}\n`);
    },
    stop() {},
  };
}
