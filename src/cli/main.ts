/**
 * `llm-picker` CLI entry: a small dispatcher. Each subcommand lives in its own
 * file exporting a `Command` (src/cli/command.ts); add one by adding a line to
 * COMMANDS. bin/llm-picker.js runs this file through tsx.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CliError, type Command } from "./command.js";

/**
 * Subcommands with their one-line summary for the command list; each is loaded
 * on demand so one command's imports never slow another.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  inspect: {
    summary: "print the filter's decision for one request body",
    load: async () => (await import("./inspect.js")).inspectCommand,
  },
  deploy: {
    summary: "roll a filter build or configuration into a running Envoy (ECDS), or --rollback",
    load: async () => (await import("./deploy.js")).deployCommand,
  },
  start: {
    summary: "start Envoy with the filter in front of simulated (or --upstream) model servers, replay a demo, show a live table",
    load: async () => {
      const { runStart } = await import("./start.js");
      return {
        run: async (argv: string[]) => {
          await runStart(argv);
          return 0;
        },
      };
    },
  },
};

function usage(): string {
  return [
    "usage: llm-picker <command> [options]",
    "",
    "commands:",
    ...Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(8)} ${summary}`),
    "",
    "Run `llm-picker <command> --help` for a command's options.",
  ].join("\n");
}

/** Runs the CLI on `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage() + "\n");
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`llm-picker: unknown command "${name}"\n${usage()}\n`);
    return 2;
  }
  const command = await entry.load();
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof CliError) {
      process.stderr.write(`llm-picker ${name}: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}

function isEntry(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  const self = fileURLToPath(import.meta.url);
  try {
    const real = realpathSync(script);
    return real === self || real.endsWith("/bin/llm-picker.js");
  } catch {
    return false;
  }
}

if (isEntry()) {
  process.exitCode = await main(process.argv.slice(2));
}
