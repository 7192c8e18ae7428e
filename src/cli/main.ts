/**
 * `llm-picker` CLI entry: a small dispatcher. Each subcommand lives in its own
 * file exporting a `Command` (src/cli/command.ts); add one by adding a line to
 * COMMANDS. bin/llm-picker.js runs this file through tsx.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CliError, type Command } from "./command.js";

/** Subcommands, loaded on demand so one command's imports never slow another. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  inspect: async () => (await import("./inspect.js")).inspectCommand,
  deploy: async () => (await import("./deploy.js")).deployCommand,
  start: async () => {
    const { runStart } = await import("./start.js");
    return {
      summary: "start Envoy with the filter in front of simulated (or --upstream) model servers, replay a demo, show a live table",
      run: async (argv: string[]) => {
        await runStart(argv);
        return 0;
      },
    };
  },
};

function usage(): string {
  return [
    "usage: llm-picker <command> [options]",
    "",
    "commands:",
    ...Object.keys(COMMANDS).map((name) => `  ${name}`),
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
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`llm-picker: unknown command "${name}"\n${usage()}\n`);
    return 2;
  }
  const command = await load();
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
