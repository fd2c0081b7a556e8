import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.js';
import { CliError } from './errors.js';

export { CliError } from './errors.js';

/** The version of the @samsa/cli package this program was built from. */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/**
 * Every message to the user is one line that starts with `samsa: `; commander's usage errors
 * (`error: ...`) too, with the hint on the same line.
 */
function asOneLine(text: string): string {
  return `${text.trimEnd().replace(/^error: /, 'samsa: ')} (run with --help for usage)\n`;
}

export function buildProgram(): Command {
  const program = new Command('samsa')
    .description('Samsa: a Kafka-style distributed commit log')
    .version(VERSION, '-V, --version', 'print the version and exit')
    .configureOutput({ outputError: (text, write) => write(asOneLine(text)) })
    .exitOverride();
  // Commands made after this inherit the output settings and exitOverride.
  registerCommands(program);
  return program;
}

/**
 * The one line a failed command prints. Errors from the SDK already start with their Kafka name
 * (`InvalidConfig: ...`); a message that repeats it (a broker's detail that was itself prefixed) is
 * cut back to one.
 */
export function errorLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `samsa: ${message.replace(/^(\w+): \1: /, '$1: ')}`;
}

/** Runs the CLI and returns the process exit code. Errors become one line on stderr, never a stack trace. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed the message already (help, version, usage errors).
      return err.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`${errorLine(err)}\n`);
    if (process.env.SAMSA_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}
