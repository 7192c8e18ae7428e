"""How well each of the filter's per-endpoint figures ranks the servers as
the simulators' own prediction (the oracle's model) does, per decision:
mean Spearman correlation, how often its lowest is the oracle's lowest, and
the regret of sending every request to its lowest. Needs a request log of
the probe build that adds "slotWait", "queued" and "occ" to the decision
(`--request-log D --filter-config '{"debugHeaders":true}'`). Decisions are
grouped by whether every server was saturated and whether every batch was
full (a slot wait everywhere). Usage: wait_signals.py LOG.jsonl.

Read it with care: the figure the build routes on is the one its own
decisions even out, so it ranks worse in that build's log than it would
elsewhere; compare a figure across builds, not across figures in one."""
import json
import os
import statistics as st
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../routing-v20/request-log"))
from logs import rows  # noqa: E402

FIGURES = ("waitAhead", "slotWait", "queued", "occ")


def spearman(a, b):
    ra = {i: k for k, i in enumerate(sorted(range(len(a)), key=lambda i: a[i]))}
    rb = {i: k for k, i in enumerate(sorted(range(len(b)), key=lambda i: b[i]))}
    n = len(a)
    return 1 - 6 * sum((ra[i] - rb[i]) ** 2 for i in range(n)) / (n * (n * n - 1))


log = rows(sys.argv[1])
server_of = {json.loads(r["decision"])["endpoint"]: r["server"] for r in log}
n_servers = len(log[0]["predictedTtftMsByServer"])
groups = {}
for r in log:
    d = json.loads(r["decision"])
    if len(d.get("waitAhead", {})) != n_servers:
        continue
    figures = {}
    for f in FIGURES:
        v = [0.0] * n_servers
        for address, x in d[f].items():
            v[server_of[address]] = x
        figures[f] = v
    predicted = r["predictedTtftMsByServer"]
    best = min(predicted)
    key = (d.get("saturated", False), all(x > 0 for x in figures["slotWait"]))
    for f, v in figures.items():
        lowest = min(range(n_servers), key=lambda i: v[i])
        groups.setdefault(key, {}).setdefault(f, []).append((spearman(v, predicted), lowest == predicted.index(best), predicted[lowest] - best))
for (saturated, full), figures in sorted(groups.items()):
    print(f"every server saturated: {saturated}, every batch full: {full}: {len(figures['occ'])} decisions")
    for f, v in figures.items():
        print(f"   {f:10s} spearman {st.mean(x[0] for x in v):5.2f}  lowest is the oracle's {sum(x[1] for x in v):4d}  regret of the lowest {st.mean(x[2] for x in v):6.1f} ms")
