// Names of what the filter writes where Envoy, the upstream and tests see
// it. The gateway request headers the picker reads are in request/headers.ts.

/** Envoy routes on it (`override_host`); a client-sent one is always removed. */
export const DESTINATION_HEADER = "x-gateway-destination-endpoint";
/** The decision's scores, with `debugHeaders`; a client-sent one is removed. */
export const SCORES_HEADER = "x-llm-picker-scores";
/** Filter state the CLI and tests read (Envoy stores it as wasm.llm_picker.decision). */
export const INSPECT_PROPERTY = "llm_picker.decision";
