/**
 * `npm run bench:prefix`: the cost of prefix affinity (docs/benchmarks.md "Prefix").
 *
 *  1. Shared-data reads and writes per request for a 256-block prompt
 *     (proxy_get_shared_data / proxy_set_shared_data from
 *     host.hostCallCounts()), through the release filter in the emulated
 *     Envoy, for several index states. The index's share is the difference
 *     with a request that has no block hashes (the pool-state reads: metrics
 *     and in-flight counts). Goal: ≤ 16 index reads on average.
 *  2. Time per request for hash + lookup + update at 2 KB, 100 KB and 1 MB
 *     chat bodies: through the filter (a request with the default prefix
 *     configuration minus the same request with prefix.enabled false), and split into
 *     its parts with the pure modules (build/units-request.wasm,
 *     build/units-hashing.wasm: parse alone, parse + render + hash, index
 *     lookup + update over an in-memory store).
 *  3. Capacity: fill an index of small capacity with 10× its capacity and
 *     show host.sharedData.totalBytes() stays within the configured bound
 *     (PrefixIndexConfig.maxBytes, read from the same code in units-hashing).
 */
import { parseArgs } from "node:util";
import type { HeaderPairs, ProxyWasmHost } from "../host/index.js";
import { lcg, sizedChatBody } from "../requests/bodies.js";
import { ensureBuilt } from "../wasm/build.js";
import { loadUnits } from "../wasm/units.js";
import { CHAT_HEADERS, KB, MB, countCalls, createHost, fmt, machine, sendRequest, timeInterleaved, timeNs } from "./parse.js";

const ENDPOINTS = ["10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000", "10.0.0.4:8000"];
const BLOCK = 64;
const BLOCKS = 256;
const INDEX_PREFIX = "llm-picker/prefix/";
const COMPLETIONS: HeaderPairs = CHAT_HEADERS.map(([k, v]) => [k, k === ":path" ? "/v1/completions" : v]);
const enc = new TextEncoder();
/** Timing rounds (best of): the machine is shared, and the 1 MB differences are small next to parsing. */
const ROUNDS = 7;

/** `n` pseudo-random lowercase bytes from `seed`. */
function text(seed: number, n: number): string {
  const rand = lcg(seed * 7919 + 17);
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(97 + Math.floor(rand() * 26));
  return s;
}

function completion(prompt: string): Uint8Array {
  return enc.encode(JSON.stringify({ model: "meta-llama/Llama-3.1-8B-Instruct", prompt, max_tokens: 16 }));
}

const pool = (extra: Record<string, unknown> = {}) => ({
  endpoints: ENDPOINTS.map((address) => ({ address })),
  metrics: { enabled: false },
  seed: 1,
  ...extra,
});

interface Calls {
  reads: number;
  writes: number;
}

function sharedCalls(host: ProxyWasmHost, bodies: Uint8Array[], headers: HeaderPairs): Calls {
  const calls = countCalls(host, () => {
    for (const b of bodies) sendRequest(host, headers, b);
  });
  return {
    reads: (calls.get("env.proxy_get_shared_data") ?? 0) / bodies.length,
    writes: (calls.get("env.proxy_set_shared_data") ?? 0) / bodies.length,
  };
}

// ------------------------------------------------------------------ 1. reads and writes

async function readsAndWrites(): Promise<void> {
  const N = 200;
  const prompt = (seed: number) => text(seed, BLOCK * BLOCKS); // exactly 256 full blocks
  // Prompts sharing a prefix of a random number of blocks with one of 8 "documents".
  const docs = Array.from({ length: 8 }, (_, j) => prompt(1000 + j));
  const rand = lcg(42);
  const partial = (i: number) => {
    const keep = 1 + Math.floor(rand() * (BLOCKS - 1));
    return docs[i % docs.length].slice(0, keep * BLOCK) + text(5000 + i, (BLOCKS - keep) * BLOCK);
  };

  const baseline = await createHost(pool({ prefix: { hashTrailingBlock: false } }));
  const none = sharedCalls(
    baseline,
    Array.from({ length: N }, () => completion("short")),
    COMPLETIONS,
  );
  baseline.close();

  const host = await createHost(pool());
  const rows: Array<[string, Calls]> = [];
  rows.push([
    "new prompt each time (index miss, then recorded)",
    sharedCalls(
      host,
      Array.from({ length: N }, (_, i) => completion(prompt(i + 1))),
      COMPLETIONS,
    ),
  ]);
  const same = completion(prompt(1));
  rows.push([
    "the same prompt again (full hit, nothing to rewrite)",
    sharedCalls(
      host,
      Array.from({ length: N }, () => same),
      COMPLETIONS,
    ),
  ]);
  for (const d of docs) sendRequest(host, COMPLETIONS, completion(d)); // the documents are known
  rows.push([
    "shared prefix of 1..255 blocks, new tail (bisection)",
    sharedCalls(
      host,
      Array.from({ length: N }, (_, i) => completion(partial(i))),
      COMPLETIONS,
    ),
  ]);
  const chat = sizedChatBody(24 * KB, 7);
  rows.push([
    "24 KB chat body (256 blocks of its rendering), repeated",
    sharedCalls(
      host,
      Array.from({ length: 50 }, () => chat),
      CHAT_HEADERS,
    ),
  ]);
  if (host.traps().length > 0) throw new Error(`the filter trapped: ${JSON.stringify(host.traps())}`);
  host.close();

  console.log(`## Shared-data calls per request, 256-block prompt (${ENDPOINTS.length} endpoints, ${N} requests each)\n`);
  console.log(`Pool state alone (a request with no block hashes): ${fmt(none.reads, 2)} reads, ${fmt(none.writes, 2)} writes.\n`);
  console.log("| index state | reads | writes | index reads | index writes |");
  console.log("|---|---:|---:|---:|---:|");
  for (const [name, c] of rows) {
    console.log(`| ${name} | ${fmt(c.reads, 2)} | ${fmt(c.writes, 2)} | ${fmt(c.reads - none.reads, 2)} | ${fmt(c.writes - none.writes, 2)} |`);
  }
  console.log("");
}

// ------------------------------------------------------------------ 2. time per request

/** The same body with 8 bytes of its system prompt replaced by `i` in hex: a new first block, same size. */
function variant(body: Uint8Array, at: number, i: number): Uint8Array {
  const copy = body.slice();
  copy.set(enc.encode(i.toString(16).padStart(8, "0")), at);
  return copy;
}

async function timing(): Promise<void> {
  const sizes = [
    { label: "2 KB", bytes: 2 * KB, n: 2000 },
    { label: "100 KB", bytes: 100 * KB, n: 300 },
    { label: "1 MB", bytes: 1 * MB, n: 40 },
  ];
  const withPrefix = await createHost(pool());
  // Prefix affinity off: no rendering, hashing, index lookup or update (the same-run baseline).
  const noHashes = await createHost(pool({ prefix: { enabled: false } }));
  const requestUnits = await loadUnits("request");
  const hashingUnits = await loadUnits("hashing");
  const store = hashingUnits.storeNew();
  const ix = hashingUnits.indexNew(store, 31250, 16, 16, 128, 8);
  hashingUnits.indexInit(ix);
  const csv = ENDPOINTS.join(",");

  console.log("## Time per request, chat bodies\n");
  console.log("Through the filter (µs per request, whole request in the emulator) and the prefix part alone (pure modules, µs):\n");
  console.log(
    "| body | filter, new prefix | filter, repeated | filter, prefix off | hash+lookup+update in the filter (new / repeated) | parse | parse+render+hash | hash (difference) | index lookup+update, new / repeated |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const size of sizes) {
    const body = sizedChatBody(size.bytes);
    const at = new TextDecoder().decode(body).indexOf("You are a helpful");
    const variants = Array.from({ length: 64 }, (_, i) => variant(body, at, i + 1));
    let k = 1000;
    const fresh = () => variant(body, at, k++); // a new first block: the index misses and records 256 blocks
    const warm = Math.max(2, Math.round(size.n / 10));
    const t = (n: number, w: number, fn: (i: number) => void) => timeNs(n, w, fn, ROUNDS);
    const [newNs, repeatNs, noneNs, copyNs] = timeInterleaved(
      size.n,
      warm,
      [
        () => sendRequest(withPrefix, CHAT_HEADERS, fresh()),
        (i) => sendRequest(withPrefix, CHAT_HEADERS, variants[i % variants.length]),
        (i) => sendRequest(noHashes, CHAT_HEADERS, variants[i % variants.length]),
        () => fresh(), // variant() itself costs a copy of the body: subtracted from the "new" column
      ],
      ROUNDS,
    );
    const [parseNs, hashNs] = timeInterleaved(
      size.n,
      warm,
      [
        (i) => i === 0 && requestUnits.parseRepeat(body, 1, size.n), // a round is one batch of n parses
        () => hashingUnits.hashBodyBytes(body, 1, BLOCK, BLOCKS, true),
      ],
      ROUNDS,
    );
    const hashes: Uint8Array = hashingUnits.hashBodyBytes(body, 1, BLOCK, BLOCKS, true);
    let j = 0;
    const freshHashes = () => {
      const h = hashes.slice();
      new DataView(h.buffer).setUint32(0, ++j * 2654435761); // a new chain: every hash differs, as in a real new prompt
      for (let b = 1; b < h.length / 8; b++) new DataView(h.buffer).setUint32(b * 8, j ^ (b * 40503));
      return h;
    };
    const lookupNewNs = t(size.n, warm, () => hashingUnits.indexScoreAndRecord(ix, freshHashes(), csv, ENDPOINTS[j % 4], 0));
    const lookupRepeatNs = t(size.n, warm, () => hashingUnits.indexScoreAndRecord(ix, hashes, csv, ENDPOINTS[0], 0));
    const us = (ns: number) => fmt(ns / 1000);
    console.log(
      `| ${size.label} (${body.length} B) | ${us(newNs - copyNs)} | ${us(repeatNs)} | ${us(noneNs)} | ${us(newNs - copyNs - noneNs)} / ${us(repeatNs - noneNs)} | ` +
        `${us(parseNs)} | ${us(hashNs)} | ${us(hashNs - parseNs)} | ${us(lookupNewNs)} / ${us(lookupRepeatNs)} |`,
    );
  }
  const rendered = enc.encode(text(77, BLOCK * BLOCKS));
  const chainNs = timeNs(2000, 200, () => hashingUnits.chainBytes("meta-llama/Llama-3.1-8B-Instruct", rendered, BLOCK, BLOCKS, true), ROUNDS);
  console.log(`\nThe XXH64 chain alone over 256 blocks of 64 B (16 KB, the most any body hashes): ${fmt(chainNs / 1000)} µs (units-hashing chainBytes).`);
  for (const h of [withPrefix, noHashes]) {
    if (h.traps().length > 0) throw new Error(`the filter trapped: ${JSON.stringify(h.traps())}`);
    h.close();
  }
  console.log("");
}

// ------------------------------------------------------------------ 3. capacity

async function capacity(): Promise<void> {
  const perEndpoint = 512;
  const maxEndpoints = ENDPOINTS.length;
  const capacityBlocks = perEndpoint * maxEndpoints;
  const hashingUnits = await loadUnits("hashing");
  const ix = hashingUnits.indexNew(hashingUnits.storeNew(), perEndpoint, maxEndpoints, 16, 128, 8);
  const bound: number = hashingUnits.indexMaxBytes(ix);
  const buckets: number = hashingUnits.indexNumBuckets(ix);

  const host = await createHost(pool({ prefix: { capacityPerEndpoint: perEndpoint, maxEndpoints } }));
  const indexBytes = () => {
    let values = 0;
    let keys = 0;
    for (const key of host.sharedData.keys()) {
      if (!key.startsWith(INDEX_PREFIX)) continue;
      values += host.sharedData.get(key)!.value.length;
      keys++;
    }
    return { values, keys };
  };
  console.log(`## Capacity: ${perEndpoint} blocks per endpoint × ${maxEndpoints} endpoints = ${capacityBlocks} blocks (${buckets} buckets)\n`);
  console.log(`Bound on the index's values (PrefixIndexConfig.maxBytes): ${bound} bytes.\n`);
  console.log("| blocks sent | × capacity | index keys | index value bytes | all shared data (keys + values) | within bound |");
  console.log("|---:|---:|---:|---:|---:|---|");
  let sent = 0;
  let worst = 0;
  let seed = 1;
  for (let round = 1; round <= 10; round++) {
    while (sent < round * capacityBlocks) {
      sendRequest(host, COMPLETIONS, completion(text(900_000 + seed++, BLOCK * BLOCKS)));
      sent += BLOCKS;
    }
    const { values, keys } = indexBytes();
    worst = Math.max(worst, values);
    console.log(`| ${sent} | ${round} | ${keys} | ${values} | ${host.sharedData.totalBytes()} | ${values <= bound ? "yes" : "**no**"} |`);
  }
  if (host.traps().length > 0) throw new Error(`the filter trapped: ${JSON.stringify(host.traps())}`);
  host.close();
  console.log(`\nLargest index size seen: ${worst} of ${bound} bytes (${fmt((100 * worst) / bound, 1)}%).`);
  if (worst > bound) process.exitCode = 1;
}

const HELP = `usage: npm run bench:prefix   (no options)
  Shared-data calls per request for a 256-block prompt, the time of hash + lookup + update
  at 2 KB, 100 KB and 1 MB, and the index's size against its bound (docs/benchmarks.md "Prefix").`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { help: { type: "boolean", default: false } } });
  if (values.help) {
    console.log(HELP);
    return;
  }
  ensureBuilt("units-request", "units-hashing");
  console.log(`bench:prefix on ${machine()}\n`);
  await readsAndWrites();
  await timing();
  await capacity();
}

await main();
