import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { startEnvoy } from "../src/envoy/process.ts";
import { startLoadServers } from "../test/reliability/traffic.ts";
const servers = await startLoadServers(2);
const envoy = await startEnvoy({ config: readFileSync("envoy/envoy.yaml","utf8").replace("override_stream_error_on_invalid_http_message: true","override_stream_error_on_invalid_http_message: false"), substitutions: { wasmPath: "build/llm_picker.wasm", endpoints: servers.map(s => s.address) } });
const u = new URL(envoy.listenerUrl);
const req = (path: string, body: string) => `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
const C = (c: string) => `{"model":"m","messages":[{"role":"user","content":"${c}"}]}`;
for (const combo of [[C("a"), '{"model":5}', C("c")], [C("a"), C("b"), '{"model":5}', C("c")]]) {
  const s = connect(Number(u.port), u.hostname); let data = "";
  s.on("data", d => data += d); s.write(combo.map(b => req("/v1/chat/completions", b)).join(""));
  await new Promise(r => setTimeout(r, 1500)); s.write(req("/v1/chat/completions", C("late"))); await new Promise(r => setTimeout(r, 1500)); s.destroy();
  console.log(JSON.stringify(combo.map(x=>x.slice(0,12))), [...data.matchAll(/HTTP\/1\.1 (\d+)/g)].map(m => m[1]), data.includes("connection: close"), s.destroyed);
}
await envoy.stop(); for (const s of servers) await s.close();
