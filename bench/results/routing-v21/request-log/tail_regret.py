"""Where the slowest requests of a run could have gone: for the slowest 2%,
the next 8% and all requests, their time to first token, the simulators'
own prediction (the oracle's model) at the server chosen and the best
prediction anywhere when they arrived, and the difference (the decision's
immediate regret). Usage: tail_regret.py LOG.jsonl [...] (request logs of
`--request-log`)."""
import os
import statistics as st
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../routing-v20/request-log"))
from logs import rows  # noqa: E402


def summary(log, idx, name):
    chosen = [log[i]["predictedTtftMsByServer"][log[i]["server"]] for i in idx]
    best = [min(log[i]["predictedTtftMsByServer"]) for i in idx]
    actual = [log[i]["firstTokenMs"] - log[i]["arrivalMs"] for i in idx]
    regret = [c - b for c, b in zip(chosen, best)]
    print(
        f"  {name:8s} n={len(idx):4d} actual {st.mean(actual):7.1f} predicted where sent {st.mean(chosen):7.1f}"
        f" best anywhere {st.mean(best):7.1f} regret {st.mean(regret):6.1f} (over 50 ms: {sum(1 for x in regret if x > 50)})"
    )


for path in sys.argv[1:]:
    log = rows(path)
    ttft = [r["firstTokenMs"] - r["arrivalMs"] for r in log]
    order = sorted(range(len(log)), key=lambda i: ttft[i])
    n = len(log)
    print(f"{path}: p99 {ttft[order[int(0.99 * n)]]:.0f} ms")
    summary(log, order[int(0.98 * n):], "top 2%")
    summary(log, order[int(0.9 * n):int(0.98 * n)], "p90-p98")
    summary(log, order, "all")
