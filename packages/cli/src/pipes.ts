/**
 * `samsa consume ... | head -3`: once `head` has what it wants it closes the pipe, and the next write
 * fails with EPIPE. Node ignores SIGPIPE, so without this the error would surface as an unhandled
 * stream error with a stack trace. A closed reader is the normal end of a pipeline: exit 0, quietly,
 * as tools killed by SIGPIPE do without a word.
 */
export function exitQuietlyOnBrokenPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
    });
  }
}
