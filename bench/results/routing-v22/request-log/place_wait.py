"""The filter's wait for a place in a full batch against when that place
really freed. For the decisions nearest to each given arrival time: per
server, the requests found waiting there, when the k-th running one really
ended (k = the waiting ones + 1: when a request sent there would have got
its place; from the servers' log), the filter's estimate of that wait in
real ms (`placeMs`) and in the model's ms (÷ timeScale), its slot wait in
prefill blocks (`slotWait`), the prefill pace it converted with (`pace`,
blocks per real ms) and the oracle's predicted time to first token.

Needs a request log of the probe build that adds these figures to the
decision (`probes/decision-place-fields.patch`; `--request-log D
--filter-config '{"debugHeaders":true}'`). Usage: place_wait.py LOG.jsonl
TIMESCALE T1 [T2 ...] (arrival times in model ms)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../routing-v20/request-log"))
from logs import rows  # noqa: E402

FIGURES = ("slotWait", "occ", "pace", "placeMs")

log = rows(sys.argv[1])
time_scale = float(sys.argv[2])
server_of = {json.loads(r["decision"])["endpoint"]: r["server"] for r in log}
n_servers = len(log[0]["predictedTtftMsByServer"])
for at in (float(x) for x in sys.argv[3:]):
    r = min(log, key=lambda q: abs(q["arrivalMs"] - at))
    t = r["arrivalMs"]
    d = json.loads(r["decision"])
    fig = {f: {server_of[a]: x for a, x in d[f].items()} for f in FIGURES}
    print(f"arrival {t:.0f} ms, every server saturated: {d.get('saturated', False)}")
    for s in range(n_servers):
        on = [q for q in log if q["server"] == s and q["arrivalMs"] < t and q.get("doneMs", float("inf")) > t]
        running = [q for q in on if q["admittedMs"] <= t]
        waiting = len(on) - len(running)
        ends = sorted(q["doneMs"] - t for q in running)
        kth = ends[waiting] if waiting < len(ends) else float("nan")
        print(
            f"  server {s}: waiting {waiting:3d}, k-th end {kth:6.0f} ms;"
            f" filter {fig['placeMs'][s]:6.0f} real ms = {fig['placeMs'][s] / time_scale:6.0f} model ms,"
            f" {fig['slotWait'][s]:5.0f} blocks at pace {fig['pace'][s]:.3f};"
            f" oracle {r['predictedTtftMsByServer'][s]:6.0f} ms"
        )
