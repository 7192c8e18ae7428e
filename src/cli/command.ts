/** What every `llm-picker` subcommand implements (see main.ts). */
export interface Command {
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}

/**
 * A failure to report to the user without a stack trace. Exit codes: 2 for
 * usage and input errors (missing file, invalid JSON, configuration refused
 * by the filter), 1 for a failure of the filter itself (trap, no decision).
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = "CliError";
  }
}
