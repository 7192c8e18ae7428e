// Names of what the filter writes where Envoy, the upstream and tests see
// it. The gateway request headers the picker reads are in request/headers.ts.

/** Envoy routes on it (`override_host`); a client-sent one is always removed. */
export const DESTINATION_HEADER = "x-gateway-destination-endpoint";
/** The decision's scores, with `debugHeaders`; a client-sent one is removed. */
export const SCORES_HEADER = "x-llm-picker-scores";
/**
 * Set on the request just before the filter answers it itself, so that
 * Envoy's local_reply_config (envoy/envoy.yaml) can tell the filter's
 * replies, already OpenAI errors, from Envoy's own, which it rewrites. A
 * client-sent one is removed.
 */
export const LOCAL_REPLY_MARKER = "x-llm-picker-local-reply";
/** Filter state the CLI and tests read (Envoy stores it as wasm.llm_picker.decision). */
export const INSPECT_PROPERTY = "llm_picker.decision";
/** Fleet (docs/fleet.md): the session key the replicas' Maglev hashes. */
export const SESSION_HEADER = "x-llm-picker-session";
/** Fleet: fleet.secret on a request one replica forwarded to another; a client's copy is removed. */
export const HOP_HEADER = "x-llm-picker-hop";
/** Fleet: "fleet" when forwarding; the route config sends such requests to the replicas cluster. A client's copy is removed. */
export const ROUTE_HEADER = "x-llm-picker-route";

/**
 * Fleet placement hints (docs/fleet.md "Placement hints"): on a forwarded
 * request, where the first hop last saw the session go; on the owner's
 * response to it, where the owner sent it. Removed on arrival either way.
 */
export const PLACEMENT_HEADER = "x-llm-picker-placement";

/**
 * On a response: the member that served the request, set by Envoy's route
 * (response_headers_to_add, %UPSTREAM_HOST%, overwriting a server's copy;
 * envoy/envoy.yaml) for passive health. Removed from every response.
 */
export const UPSTREAM_HEADER = "x-llm-picker-upstream";
