/** Request builders: the same ones the benchmarks and the demo use. */
export { chatBody, type ChatMessage, lcg, type Turn } from "../../src/requests/bodies.js";
