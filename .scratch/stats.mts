import { startEnvoy } from "../src/envoy/process.ts";
import { startUpstreams } from "../test/envoy/upstreams.ts";
const ups = await startUpstreams(2);
const envoy = await startEnvoy({ config: "envoy/envoy.yaml", substitutions: { wasmPath: "build/llm_picker.wasm", endpoints: ups.map(u => u.address) } });
for (let i = 0; i < 3; i++) await (await fetch(envoy.listenerUrl + "/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" + i }] }) })).text();
await new Promise(r => setTimeout(r, 300));
const s = await envoy.stats("wasm|llm_picker\\.(vm|prefix)");
console.log(s);
await envoy.stop(); for (const u of ups) await u.close();
