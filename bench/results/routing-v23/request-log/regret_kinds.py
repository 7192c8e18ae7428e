"""Each decision's immediate regret in a request log of `--request-log`:
the simulators' own predicted TTFT (the oracle's model) at the server
chosen less the best prediction anywhere when the request arrived; its
mean and percentiles, and how many decisions with a regret of 1 ms or more
chose a server holding less of the prompt than the best one ("cache") or
not ("queue"), with the mean regret per request each accounts for.
Usage: regret_kinds.py LOG.jsonl[.gz] [...]"""
import statistics as st
import sys

from ttft_parts import rows

for path in sys.argv[1:]:
    log = rows(path)
    n = len(log)
    regrets = []
    count = {"cache": 0, "queue": 0}
    cost = {"cache": 0.0, "queue": 0.0}
    for r in log:
        predicted, cached, chosen = r["predictedTtftMsByServer"], r["cachedAtArrivalByServer"], r["server"]
        best = min(range(len(predicted)), key=lambda i: predicted[i])
        regret = predicted[chosen] - predicted[best]
        regrets.append(regret)
        if regret >= 1:
            kind = "cache" if cached[chosen] < cached[best] else "queue"
            count[kind] += 1
            cost[kind] += regret
    regrets.sort()
    print(
        f"{path}: regret mean {st.mean(regrets):.1f}, p50 {regrets[n // 2]:.1f}, p90 {regrets[int(0.9 * n)]:.1f}, p99 {regrets[int(0.99 * n)]:.1f};"
        f" decisions over 1 ms: cache {count['cache']} ({cost['cache'] / n:.1f} ms per request), queue {count['queue']} ({cost['queue'] / n:.1f})"
    )
