"""Where a run's time to first token goes, from a request log of
`--request-log`: for the requests around the median (p40-p60), below it and
the slowest 10%, the mean TTFT, wait before the prefill (arrival to prefill
start), uncached tokens at the server chosen and at the best-cached server
when it arrived, and that best server's TTFT with no wait at all
(overhead + prefill of what it did not hold). Then the mean TTFT and each
server's request count and mean TTFT (how evenly the wait was spread).
Usage: ttft_parts.py LOG.jsonl[.gz] [...]; the latency model's figures are
the benchmark's defaults (overheadMs 10, prefillMsPerToken 0.1)."""
import os
import statistics as st
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../routing-v20/request-log"))
from logs import by_server, rows  # noqa: E402

OVERHEAD_MS = 10
PREFILL_MS_PER_TOKEN = 0.1


def ttft(r):
    return r["firstTokenMs"] - r["arrivalMs"]


def best_uncached(r):
    return r["promptTokens"] - max(r.get("cachedAtArrivalByServer") or [r["cachedTokens"]])


def band(log, order, lo, hi, name):
    n = len(log)
    idx = order[int(lo * n) : int(hi * n)]
    mean = lambda f: st.mean(f(log[i]) for i in idx)  # noqa: E731
    print(
        f"  {name:7s} ttft {mean(ttft):6.1f} wait {mean(lambda r: r['prefillStartMs'] - r['arrivalMs']):6.1f}"
        f" uncached {mean(lambda r: r['promptTokens'] - r['cachedTokens']):5.0f} (best-cached server {mean(best_uncached):5.0f})"
        f" no-wait TTFT at the best-cached server {OVERHEAD_MS + PREFILL_MS_PER_TOKEN * mean(best_uncached):5.1f}"
    )


if __name__ == "__main__":
    for path in sys.argv[1:]:
        log = rows(path)
        t = [ttft(r) for r in log]
        order = sorted(range(len(log)), key=lambda i: t[i])
        print(f"{path}: p50 {t[order[len(log) // 2]]:.1f}, mean {st.mean(t):.1f}")
        band(log, order, 0.4, 0.6, "p40-60")
        band(log, order, 0.0, 0.5, "< p50")
        band(log, order, 0.9, 1.0, "top 10%")
        per = by_server(log)
        print("  per server (requests / mean TTFT):", " ".join(f"{len(v)}/{st.mean(ttft(r) for r in v):.0f}" for _, v in sorted(per.items())))
