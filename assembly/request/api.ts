// Which OpenAI API a request targets, from its method and path.
//
// Path first, as the upstream Gateway API Inference Extension (GIE) endpoint
// picker does since its PR #2133; before that it looked only at the body
// shape, which a project that also serves /v1/responses cannot do. The body shape is used only when the path says
// nothing (see API_BY_SHAPE; the rule itself is in parse.ts, detectShape).
import { Api } from "./types";

/** The path gives no API: decide by the body's shape (the rule is in parse.ts). */
export const API_BY_SHAPE: i32 = -1;
/** Not an inference call (GET/HEAD, /v1/models, /health, unknown paths): pass through. */
export const API_NOT_INFERENCE: i32 = -2;
// Otherwise detectApi returns an Api value: Api.Completions (0),
// Api.ChatCompletions (1), Api.Responses (2).

/**
 * Detects the API of a request.
 *
 * - Only POST carries an inference body; any other method (GET, HEAD,
 *   OPTIONS, DELETE, ...) → API_NOT_INFERENCE.
 * - The query string (`?...`) and fragment (`#...`) are ignored, and so is
 *   one trailing slash.
 * - Matching is by path *suffix* on segment boundaries, so any prefix works
 *   (`/openai/v1/chat/completions`, `/llm/v1/responses`, Vertex-style
 *   prefixes as GIE #2813):
 *     `.../v1/chat/completions` → ChatCompletions
 *     `.../v1/completions`      → Completions
 *     `.../v1/responses`        → Responses
 *   (`/v1/` is required: `/chat/completions` alone is not matched, so that an
 *   arbitrary application path ending in "completions" is not mistaken for
 *   an LLM call).
 * - An empty path or "/" says nothing → API_BY_SHAPE (the upstream picker's
 *   original behaviour, also used by the CLI when no --path is given).
 * - Everything else (`/v1/models`, `/v1/embeddings`, `/health`, `/metrics`,
 *   `/v1/responses/{id}/cancel`, ...) → API_NOT_INFERENCE.
 * Matching is case-sensitive, as the OpenAI routes and vLLM's are.
 */
export function detectApi(method: string, path: string): i32 {
  if (method != "POST") return API_NOT_INFERENCE;
  let end = path.length;
  const q = path.indexOf("?");
  if (q >= 0) end = q;
  const h = path.indexOf("#");
  if (h >= 0 && h < end) end = h;
  if (end > 1 && path.charCodeAt(end - 1) == 0x2f) end--; // one trailing '/'
  if (end == 0 || (end == 1 && path.charCodeAt(0) == 0x2f)) return API_BY_SHAPE;
  if (endsWithSegments(path, end, "/v1/chat/completions")) return Api.ChatCompletions;
  if (endsWithSegments(path, end, "/v1/completions")) return Api.Completions;
  if (endsWithSegments(path, end, "/v1/responses")) return Api.Responses;
  return API_NOT_INFERENCE;
}

// path[0, end) ends with `suffix` (which starts with '/'), so the match starts on a segment boundary.
function endsWithSegments(path: string, end: i32, suffix: string): bool {
  const n = suffix.length;
  if (end < n) return false;
  const start = end - n;
  for (let i = 0; i < n; i++) {
    if (path.charCodeAt(start + i) != suffix.charCodeAt(i)) return false;
  }
  return true;
}

