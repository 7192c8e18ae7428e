import { parentPort } from "node:worker_threads";
import { resolveSimConfig } from "../../src/sim/config.js";
const x: number = 3;
parentPort!.postMessage({ x, c: typeof resolveSimConfig });
