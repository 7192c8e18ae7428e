"""Per-second view of a request log (bench:routing --request-log, with
--filter-config '{"debugHeaders":true}'): requests, hit rate and decisions
where load overrode affinity, per second of arrival; then the totals of the
time spent waiting for a place (admission), for prefill queued ahead, and
prefilling. Usage: python3 windows.py LOG.jsonl[.gz] ..."""
import gzip
import json
import sys


def rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return [json.loads(line) for line in f]


def overrode(r):
    return bool(r.get("decision")) and json.loads(r["decision"]).get("loadOverrodeAffinity", False)


for path in sys.argv[1:]:
    rs = rows(path)
    ttft = sorted(r["firstTokenMs"] - r["arrivalMs"] for r in rs)
    n = len(rs)
    place = sum(r["admittedMs"] - r["arrivalMs"] for r in rs)
    queued = sum(r["prefillStartMs"] - r["admittedMs"] for r in rs)
    prefill = sum(r["firstTokenMs"] - r["prefillStartMs"] for r in rs)
    hit = sum(r["cachedTokens"] for r in rs) / sum(r["promptTokens"] for r in rs)
    windows = {}
    for r in rs:
        w = windows.setdefault(int(r["arrivalMs"] // 1000), [0, 0, 0, 0])
        w[0] += 1
        w[1] += r["cachedTokens"]
        w[2] += r["promptTokens"]
        w[3] += overrode(r)
    print(f"{path}: p50 {ttft[n // 2]:.0f} p99 {ttft[int(n * 0.99)]:.0f} ms, hit {hit:.3f}, "
          f"waiting for a place {place:.0f} ms, queued {queued:.0f} ms, prefilling {prefill:.0f} ms in all")
    print("  second: requests / hit rate / load overrode affinity")
    print("  " + "  ".join(f"{k}: {w[0]}/{100 * w[1] / w[2]:.0f}%/{w[3]}" for k, w in sorted(windows.items())))
