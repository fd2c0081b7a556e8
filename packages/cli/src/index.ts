export { runCli, buildProgram, CliError } from './cli.js';
