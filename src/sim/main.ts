// CLI: npx tsx src/sim/main.ts [--port P] [--config FILE] [--servers N]
//
// Starts one simulated vLLM server (or N on consecutive ports from P, or on
// free ports when P is 0), each in its own worker thread, and prints one URL
// per line. Ctrl-C stops them.

import { parseArgs } from "node:util";
import { loadSimConfigFile, resolveSimConfig, type SimConfig } from "./config.js";
import { startIsolatedSimPool } from "./isolated.js";

const USAGE = `usage: npx tsx src/sim/main.ts [--port P] [--config FILE] [--servers N]
  --port P       port of the first server (default 0: a free port)
  --config FILE  JSON config (see src/sim/README.md); defaults otherwise
  --servers N    number of servers (default 1), on ports P, P+1, ... (or free ports)`;

function fail(message: string): never {
  process.stderr.write(`llm-picker sim: ${message}\n`);
  process.exit(2);
}

function intOption(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > 65535) fail(`--${name} must be an integer >= ${min} (got "${value}")\n${USAGE}`);
  return n;
}

async function main(): Promise<void> {
  let values: { port?: string; config?: string; servers?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: "string" },
        config: { type: "string" },
        servers: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    return;
  }
  const port = intOption(values.port, "port", 0, 0);
  const count = intOption(values.servers, "servers", 1, 1);
  let config: SimConfig;
  try {
    config = values.config === undefined ? resolveSimConfig({}) : loadSimConfigFile(values.config);
  } catch (err) {
    fail((err as Error).message);
  }
  let pool;
  try {
    pool = await startIsolatedSimPool(count, config, port === 0 ? undefined : port);
  } catch (err) {
    fail((err as Error).message);
  }
  for (const url of pool.urls) process.stdout.write(url + "\n");
  const stop = () => {
    void pool.close().then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

void main();
