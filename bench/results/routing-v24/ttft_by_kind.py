"""TTFT percentiles of a run's requests by kind: true first turns, cold
mid-session openings (a session that began before the trace opens: its
history is in the prompt but no server was sent it; cold_sessions.py) and
later turns, from a request log of `--request-log` and the trace it ran
(`--save-traces`, or written with the same seed). A request's tag
`session#index` names its line in the trace.
Usage: ttft_by_kind.py TRACE.jsonl LOG.jsonl[.gz] [...]"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../routing-v20/request-log"))
from logs import rows  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from cold_sessions import kinds  # noqa: E402


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")


if __name__ == "__main__":
    kind = kinds(sys.argv[1])
    for path in sys.argv[2:]:
        by = {"first": [], "cold": [], "later": []}
        for r in rows(path):
            by[kind[int(r["tag"].split("#")[1])]].append(r["firstTokenMs"] - r["arrivalMs"])
        every = [t for v in by.values() for t in v]
        warmable = by["first"] + by["later"]
        print(f"{path}: all p50 {pct(every, 0.5):.1f}; without cold openings p50 {pct(warmable, 0.5):.1f} p90 {pct(warmable, 0.9):.0f} p99 {pct(warmable, 0.99):.0f}")
        for k, v in by.items():
            print(f"  {k:6s} {len(v):4d} requests, p50 {pct(v, 0.5):6.1f} p90 {pct(v, 0.9):6.0f}")
