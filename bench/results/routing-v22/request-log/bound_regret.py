"""What the batch bound cost at full batches: per decision, the immediate
regret (the oracle's predicted time to first token at the server taken,
less the best anywhere) of always taking the server with the lowest of a
filter figure, among every server and among those the batch bound of
v21 kept (occupancy within the load bound and, every batch being full, at
most the pool's mean), against the server the build chose. Figures: the
wait ahead as the filter summed it (queued prefill + slot wait), the
larger of the two, the slot wait alone, and occupancy. Decisions are
grouped by whether every server was saturated and whether every batch was
full (a slot wait everywhere).

Needs a request log of the probe build that adds "slotWait", "queued" and
"occ" to the decision (`../../routing-v21/probes/decision-wait-fields.patch`;
`--request-log D --filter-config '{"debugHeaders":true}'`). Usage:
bound_regret.py LOG.jsonl"""
import json
import math
import os
import statistics as st
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../routing-v20/request-log"))
from logs import rows  # noqa: E402

LOAD_FACTOR = 1.5

log = rows(sys.argv[1])
server_of = {json.loads(r["decision"])["endpoint"]: r["server"] for r in log}
n = len(log[0]["predictedTtftMsByServer"])
groups = {}
for r in log:
    d = json.loads(r["decision"])
    if len(d.get("waitAhead", {})) != n:
        continue
    fig = {f: [0.0] * n for f in ("slotWait", "queued", "occ")}
    for f, v in fig.items():
        for address, x in d[f].items():
            v[server_of[address]] = x
    sw, q, occ = fig["slotWait"], fig["queued"], fig["occ"]
    predicted = r["predictedTtftMsByServer"]
    best = min(predicted)
    total = sum(occ)
    cap = math.ceil(LOAD_FACTOR * (total + 1) / n)
    fair = math.ceil((total + 1) / n)
    kept = [i for i in range(n) if occ[i] <= cap and occ[i] <= fair] or list(range(n))
    key = (d.get("saturated", False), all(x > 0 for x in sw))
    g = groups.setdefault(key, {})
    g.setdefault("chosen", []).append(predicted[r["server"]] - best)
    figures = {"sum": [a + b for a, b in zip(sw, q)], "max": [max(a, b) for a, b in zip(sw, q)], "slot wait": sw, "occupancy": occ}
    for name, v in figures.items():
        g.setdefault(f"{name}, any server", []).append(predicted[min(range(n), key=lambda i: v[i])] - best)
        g.setdefault(f"{name}, kept by the bound", []).append(predicted[min(kept, key=lambda i: v[i])] - best)
for (saturated, full), g in sorted(groups.items()):
    print(f"every server saturated: {saturated}, every batch full: {full}: {len(g['chosen'])} decisions")
    for name, x in g.items():
        print(f"   {name:28s} mean regret {st.mean(x):6.1f} ms, p95 {sorted(x)[int(0.95 * len(x))]:6.1f}")
