"""How well the filter knew the prefill queued ahead of each request: for
every decision of a run with the decision header (`--request-log DIR
--filter-config '{"debugHeaders":true}'`), the wait the server's log shows
(arrival to prefill start) against the filter's waitAhead for the endpoint
it chose (blocks, scaled to ms by the median ratio over the decisions that
expected more than 5 blocks). Prints the scale, the mean absolute error,
the 95th percentile of (actual - predicted) and the decisions that expected
under 10 blocks and waited over 60 ms.
Usage: wait_error.py LOG.jsonl[.gz] [...]"""
import json
import os
import statistics as st
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../routing-v20/request-log"))
from logs import rows  # noqa: E402

for path in sys.argv[1:]:
    pairs = []
    for r in rows(path):
        if not r.get("decision"):
            continue
        d = json.loads(r["decision"])
        if d.get("endpoint") not in d.get("waitAhead", {}):
            continue
        pairs.append((d["waitAhead"][d["endpoint"]], r["prefillStartMs"] - r["arrivalMs"]))
    if not pairs:
        print(f"{path}: no decisions")
        continue
    scale = st.median(w / a for a, w in pairs if a > 5) if any(a > 5 for a, _ in pairs) else 1.0
    err = sorted(w - scale * a for a, w in pairs)
    missed = sum(1 for a, w in pairs if a < 10 and w > 60)
    print(
        f"{path}: {len(pairs)} decisions, {scale:.2f} ms per block, mean |error| {st.mean(abs(e) for e in err):.1f} ms,"
        f" p95 of actual - predicted {err[int(0.95 * len(err))]:.0f} ms, expected < 10 blocks and waited > 60 ms: {missed}"
    )
