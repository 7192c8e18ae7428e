// The root (plugin) context: owns the validated configuration of one plugin
// instance on this VM. Envoy creates a new root context for each plugin
// configuration (an ECDS config-only update reuses the VM with a new root),
// so configuration lives here, never in VM globals.
import { BufferType, getBufferBytes, log, LogLevel, refreshLogLevel } from "./host";
import { Config } from "../config/types";
import { parseConfig } from "../config/parse";

export class RootContext {
  config: Config = new Config();
  configured: bool = false;
  /** Round-robin cursor for requests that need no scoring. */
  private rrCursor: i32 = 0;

  constructor(public id: u32) {}

  onConfigure(size: u32): bool {
    refreshLogLevel();
    const bytes = size > 0 ? getBufferBytes(BufferType.PluginConfiguration, 0, size) : new Uint8Array(0);
    const result = parseConfig(bytes != null ? bytes : new Uint8Array(0));
    const err = result.error;
    if (err != null) {
      // Returning false makes Envoy reject the configuration (NACK / startup failure);
      // the previous configuration, if any, stays in force.
      log(LogLevel.Critical, "llm_picker: " + err.toString());
      return false;
    }
    this.config = result.config!;
    this.configured = true;
    log(LogLevel.Info, "llm_picker: configured with " + this.config.endpoints.length.toString() + " endpoint(s)");
    return true;
  }

  /** The next endpoint in round-robin order, or "" when the pool is empty. */
  nextRoundRobin(): string {
    const eps = this.config.endpoints;
    if (eps.length == 0) return "";
    if (this.rrCursor >= eps.length) this.rrCursor = 0;
    return eps[this.rrCursor++].address;
  }

  onTick(): void {}

  onHttpCallResponse(token: u32, numHeaders: u32, bodySize: u32): void {}

  onDone(): void {}
}
