/**
 * Error a command raises for a user mistake: printed as one line, exit code 1 (2 for usage). Its own
 * module so that commands can raise it without importing the program that registers them.
 */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
