// Entry of one simulated server's worker thread (src/sim/isolated.ts). Worker
// threads do not inherit the parent's TypeScript loader, so this plain module
// registers tsx before loading the TypeScript side.
import { register } from "tsx/esm/api";

register();
await import("./worker-main.ts");
