"""Whether a run was past its pool's capacity, from a request log written
with `bench:routing --request-log DIR` (and, for the share of saturated
decisions, `--filter-config '{"debugHeaders":true}'`): the mean time to
first token in each third of the requests by arrival (a backlog that grows
through the run), the wait for a place in a full batch (admission less
arrival) at p50 and p99, the requests per server, and the share of the
filter's decisions that found every server saturated (routed on load
alone). Usage: python3 overload.py LOG.jsonl[.gz] ..."""
import json
import sys

from logs import by_server, rows


def quantile(xs, p):
    xs = sorted(xs)
    return xs[int(p * (len(xs) - 1))]


for path in sys.argv[1:]:
    log = rows(path)
    n = len(log)
    thirds = [log[: n // 3], log[n // 3 : 2 * n // 3], log[2 * n // 3 :]]
    means = [sum(r["firstTokenMs"] - r["arrivalMs"] for r in t) / len(t) for t in thirds]
    waits = [r["admittedMs"] - r["arrivalMs"] for r in log]
    per_server = {server: len(requests) for server, requests in by_server(log).items()}
    decisions = [json.loads(r["decision"]) for r in log if r.get("decision")]
    saturated = f"{sum(1 for d in decisions if d.get('saturated')) / len(decisions):.0%}" if decisions else "n/a (no decision header)"
    print(path)
    print(f"  mean TTFT by third: {means[0]:.0f} / {means[1]:.0f} / {means[2]:.0f} ms; wait for a place p50 {quantile(waits, 0.5):.0f}, p99 {quantile(waits, 0.99):.0f} ms")
    print(f"  requests per server {sorted(per_server.values())}; decisions with every server saturated {saturated}")
