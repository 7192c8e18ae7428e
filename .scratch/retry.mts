import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { startEnvoy } from "../src/envoy/process.ts";
import { startUpstreams } from "../test/envoy/upstreams.ts";
const [live, dead] = await startUpstreams(2);
const deadAddr = dead.address; await dead.close();
const doc = parseDocument(readFileSync("envoy/envoy.yaml", "utf8"));
const route = ["static_resources","listeners",0,"filter_chains",0,"filters",0,"typed_config","route_config","virtual_hosts",0,"routes",0,"route"];
doc.setIn([...route, "retry_policy"], doc.createNode({ retry_on: "connect-failure,refused-stream,reset-before-request,5xx", num_retries: 2, retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts", typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate" } }], host_selection_retry_max_attempts: 5 }));
const snapshot = { [deadAddr]: { waiting: 0, running: 0, kvCacheUsage: 0, healthy: true }, [live.address]: { waiting: 50, running: 50, kvCacheUsage: 0.5, healthy: true } };
const envoy = await startEnvoy({ config: doc.toString(), substitutions: { wasmPath: "build/llm_picker.wasm", endpoints: [live.address, deadAddr], pluginConfig: { endpoints: [{ address: live.address }, { address: deadAddr }], snapshot } } });
let ok = 0, fail = 0;
for (let i = 0; i < 10; i++) { const r = await fetch(envoy.listenerUrl + "/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" + i }] }) }); await r.text(); if (r.status === 200) ok++; else { fail++; console.log(r.status); } }
console.log({ ok, fail, liveGot: live.traffic().length });
console.log(await envoy.stats("upstream_rq_retry|upstream_cx_connect_fail"));
await envoy.stop(); await live.close();
