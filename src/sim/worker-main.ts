// One simulated server inside its own worker thread (src/sim/isolated.ts):
// starts it with the config and port from workerData, reports its address,
// then answers stats / reset / close requests from the parent.
import { parentPort, workerData } from "node:worker_threads";
import { PortInUseError, startSimServer } from "./server.js";
import type { SimConfig } from "./config.js";

interface Start {
  config: Partial<SimConfig>;
  port: number;
}

interface Request {
  id: number;
  op: "stats" | "reset" | "close";
}

const port = parentPort!;
const { config, port: wanted } = workerData as Start;

try {
  const server = await startSimServer(config, { port: wanted });
  port.on("message", async (m: Request) => {
    if (m.op === "stats") port.postMessage({ id: m.id, value: server.stats() });
    else if (m.op === "reset") {
      server.reset();
      port.postMessage({ id: m.id });
    } else if (m.op === "close") {
      await server.close();
      port.postMessage({ id: m.id });
      port.close();
    }
  });
  port.postMessage({ started: { url: server.url, port: server.port, config: server.config } });
} catch (err) {
  const inUse = err instanceof PortInUseError;
  port.postMessage({ failed: { message: (err as Error).message, portInUse: inUse ? wanted : null } });
}
