"""Decision regret against the oracle's model, from a request log written
with `bench:routing --request-log DIR` (each line carries, per server of the
pool, the tokens it had cached and the time to first token the simulators'
model predicted there when the request arrived). A request's regret is the
prediction where it went minus the best prediction anywhere. Split by what
happened to a conversation's next turn: its first turn, a next turn that
stayed on the server of the turn before or moved, and whether that server
still held most of the turn before (prevheld: at least 60% of its prompt)
or had evicted it (prevlost); "lo" marks decisions where the filter's
debug header says load overrode affinity.
Usage: python3 regret.py LOG.jsonl[.gz] ..."""
import gzip
import json
import sys
from collections import defaultdict


def rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return sorted((json.loads(line) for line in f), key=lambda r: r["arrivalMs"])


for path in sys.argv[1:]:
    last = {}
    by_kind = defaultdict(lambda: [0, 0.0])
    regrets = []
    for r in rows(path):
        predicted = r.get("predictedTtftMsByServer")
        cached = r.get("cachedAtArrivalByServer")
        if not predicted or not cached:
            continue
        session = r["tag"].split("#")[0]
        server = r["server"]
        regret = predicted[server] - min(predicted)
        regrets.append(regret)
        if session in last:
            prev_server, prev_prompt = last[session]
            kind = "stay" if server == prev_server else "move"
            kind += "-prevheld" if cached[prev_server] >= 0.6 * prev_prompt else "-prevlost"
        else:
            kind = "first"
        decision = json.loads(r["decision"]) if r.get("decision") else {}
        if decision.get("loadOverrodeAffinity"):
            kind += " lo"
        by_kind[kind][0] += 1
        by_kind[kind][1] += regret
        last[session] = (server, r["promptTokens"])
    if not regrets:
        print(f"{path}: no per-server predictions (a log from before they were recorded)")
        continue
    regrets.sort()
    n = len(regrets)
    print(f"{path}: regret mean {sum(regrets) / n:.1f} ms, p90 {regrets[int(n * 0.9)]:.1f}, p99 {regrets[int(n * 0.99)]:.1f}, sum {sum(regrets):.0f}")
    for kind in sorted(by_kind):
        count, total = by_kind[kind]
        print(f"  {kind:22s} {count:5d} requests, regret {total:8.0f} ms")
