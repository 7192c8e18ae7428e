/** Request builders: the same ones the benchmarks and the demo use. */
export { chatBody, chatRequest, DEFAULT_MODEL, lcg, sizedChatBody, type ChatMessage, type Turn } from "../../src/requests/bodies.js";
