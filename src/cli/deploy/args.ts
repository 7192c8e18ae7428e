/** `llm-picker deploy`'s command line: options, exit codes, usage text and the parser. */
import { parseArgs } from "node:util";
import { ECDS_FILE } from "../../envoy/ecds.js";
import { HISTORY_DIR, SETTINGS_FILE } from "./history.js";

/** Exit codes (also in --help and docs/hot-swap.md). */
export const EXIT = {
  /** Live in Envoy, or nothing to do (unchanged), or published with --no-wait. */
  OK: 0,
  /** Envoy refused the update (config_fail): the running filter keeps serving, DIR restored. */
  REFUSED: 1,
  /** Usage or input error, refused by validation, nothing to roll back, or another deploy running: nothing published. */
  INVALID: 2,
  /** No verdict: Envoy's admin unreachable (nothing published) or no verdict in time (left published). */
  NO_VERDICT: 3,
} as const;

export const DEFAULT_ADMIN = "http://127.0.0.1:9901";
export const DEFAULT_TIMEOUT_S = 30;

export interface DeployOptions {
  /** The watched directory (holds llm-picker.yaml). */
  dir: string;
  /** The filter module to roll out (required unless rollback). */
  wasm?: string;
  /** The plugin configuration (JSON file). Default: the current resource's configuration. */
  config?: string;
  /** Envoy's admin URL. Default: remembered for DIR, else http://127.0.0.1:9901. */
  admin?: string;
  /** Seconds to wait for Envoy's verdict. Default 30. */
  timeoutS?: number;
  /** Restore the previous resource instead of deploying. */
  rollback?: boolean;
  /** Check the module + configuration in the emulated Envoy first. Default true. */
  validate?: boolean;
  /** Wait for Envoy's verdict. Default true. */
  wait?: boolean;
  /** DIR as Envoy sees it (e.g. the mount point in a container). Default: DIR. */
  envoyDir?: string;
  /** Envoy's log file: its lines about a refused update are reported. */
  envoyLog?: string;
  /** Output sinks (default process.stdout / process.stderr). */
  out?: (line: string) => void;
  err?: (line: string) => void;
}

export const USAGE = `usage: llm-picker deploy --wasm FILE [--config FILE] --dir DIR [options]
       llm-picker deploy --rollback --dir DIR [options]

Rolls a filter module and/or plugin configuration into a running Envoy that
reads the llm-picker filter through ECDS from DIR (envoy/envoy-ecds.yaml),
without a restart. The module must load and configure in the emulated Envoy
first; it is written to DIR as llm_picker-<sha256>.wasm, the current resource
is kept in DIR/${HISTORY_DIR}/ for --rollback, and DIR/${ECDS_FILE} is replaced
atomically. Then Envoy's extension_config_discovery.http_filter.llm-picker
counters give the verdict: config_reload (live) or config_fail (refused).

options:
  --wasm FILE        filter module to roll out
  --config FILE      plugin configuration (JSON); default: keep the current one
  --dir DIR          the directory Envoy watches
  --admin URL        Envoy's admin (default: remembered for DIR, else ${DEFAULT_ADMIN})
  --timeout S        seconds to wait for Envoy's verdict (default ${DEFAULT_TIMEOUT_S})
  --rollback         publish the previous resource again
  --envoy-dir PATH   DIR as Envoy sees it, e.g. a container mount (default DIR)
  --envoy-log FILE   Envoy's log file: its lines about a refusal are reported
  --no-validate      skip the emulated-Envoy check (Envoy is then the only judge)
  --no-wait          publish without waiting for Envoy (e.g. before it starts)
  -h, --help         this help

--admin, --envoy-dir and --envoy-log are remembered in DIR/${SETTINGS_FILE}.

exit status:
  0  live in Envoy; or unchanged (nothing published: Envoy would skip it);
     or published with --no-wait
  1  Envoy refused it (config_fail): the running filter keeps serving and DIR
     is restored to the previous resource
  2  bad arguments or input, refused by the validation (the filter's own
     message), nothing to roll back, or another deploy running; nothing published
  3  no verdict: Envoy's admin unreachable (nothing published), or no verdict
     within --timeout (left published; --rollback restores the previous one)`;

/** argv → options, "help", or an error message. */
export function parseDeployArgs(argv: string[]): DeployOptions | "help" | string {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        wasm: { type: "string" },
        config: { type: "string" },
        dir: { type: "string" },
        admin: { type: "string" },
        timeout: { type: "string" },
        rollback: { type: "boolean" },
        "envoy-dir": { type: "string" },
        "envoy-log": { type: "string" },
        "no-validate": { type: "boolean" },
        "no-wait": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (values.help) return "help";
  if (!values.dir) return "--dir DIR is required";
  if (values.rollback && (values.wasm || values.config)) return "--rollback takes no --wasm or --config";
  if (!values.rollback && !values.wasm) return "--wasm FILE is required (or --rollback)";
  let timeoutS: number | undefined;
  if (values.timeout !== undefined) {
    timeoutS = Number(values.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0) return `--timeout must be a positive number of seconds, got "${values.timeout}"`;
  }
  return {
    dir: values.dir,
    wasm: values.wasm,
    config: values.config,
    admin: values.admin,
    timeoutS,
    rollback: values.rollback ?? false,
    validate: !values["no-validate"],
    wait: !values["no-wait"],
    envoyDir: values["envoy-dir"],
    envoyLog: values["envoy-log"],
  };
}
