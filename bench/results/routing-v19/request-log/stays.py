"""Next turns that stayed on a server that had evicted their history, from a
request log written with `bench:routing --request-log DIR --filter-config
'{"debugHeaders":true}'`: split into those the filter saw as evicted (its
predicted uncached blocks there about as many as on the best other server:
a tie it broke towards the same server, no worse than moving) and those it
took for held (a miss of the eviction horizon). The filter's uncached
blocks per endpoint come from its predicted-prefill score, P / (P + 2 ×
uncached + queued), with P estimated from the prompt's tokens at the
traces' 4.9 body bytes per token (so the split is approximate).
Usage: python3 stays.py LOG.jsonl[.gz] ..."""
import gzip
import json
import sys

BYTES_PER_TOKEN = 4.9
BLOCK_BYTES = 64


def rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return sorted((json.loads(line) for line in f), key=lambda r: r["arrivalMs"])


for path in sys.argv[1:]:
    last = {}
    seen, missed = 0, 0
    for r in rows(path):
        session = r["tag"].split("#")[0]
        cached = r["cachedAtArrivalByServer"]
        if session in last:
            prev_server, prev_prompt = last[session]
            if r["server"] == prev_server and cached[prev_server] < 0.6 * prev_prompt and r.get("decision"):
                d = json.loads(r["decision"])
                scores = d["scores"]["predicted-prefill"]
                wait = d.get("waitAhead", {})
                p = r["promptTokens"] * BYTES_PER_TOKEN / BLOCK_BYTES
                uncached = {a: (p / s - p - wait.get(a, 0)) / 2 for a, s in scores.items() if s > 0}
                here = uncached[d["endpoint"]]
                elsewhere = min(u for a, u in uncached.items() if a != d["endpoint"])
                if here > 0.5 * elsewhere:
                    seen += 1
                else:
                    missed += 1
        last[session] = (r["server"], r["promptTokens"])
    print(f"{path}: stays on an evicted history {seen + missed}: seen as evicted {seen}, taken for held {missed}")
