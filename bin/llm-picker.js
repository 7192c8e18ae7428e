#!/usr/bin/env node
// CLI entry: runs src/cli/main.ts through tsx's loader so the TypeScript
// sources need no separate compile step.
import { register } from "tsx/esm/api";
register();
await import("../src/cli/main.ts");
