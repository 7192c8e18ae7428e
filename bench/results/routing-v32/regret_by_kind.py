# The slowest 5% of a logged default run, by why each went where it did.
# Regret: the oracle's predicted TTFT at the chosen server minus its best
# (the simulators' own model, at arrival). The filter's cost per endpoint is
# its rule's 2 × uncached + queued (docs/routing.md "The rule"), or its own
# wait, uncached + queued, when every server is saturated (the picker ranks
# on that there), from the decision header; an endpoint cheaper than the
# chosen one on both was left out by a bound (load, batch, wait) or lost a tie.
# Usage: python3 regret_by_kind.py LOG.jsonl[.gz]
import gzip, json, sys

opener = gzip.open if sys.argv[1].endswith(".gz") else open
rows = [json.loads(l) for l in opener(sys.argv[1], "rt")]
rows = [r for r in rows if r.get("decision") and not r.get("warmup")]
rows.sort(key=lambda r: r["arrivalMs"] - r["firstTokenMs"])
addr = list(json.loads(rows[0]["decision"])["uncached"].keys())
top = rows[: len(rows) // 20]
bounds = {}
kinds = {"the oracle agrees (regret < 10 ms)": [], "the filter's cheapest was elsewhere": [], "the filter's cheapest, not the oracle's": []}
for r in top:
    d = json.loads(r["decision"])
    s, p = r["server"], r["predictedTtftMsByServer"]
    regret = p[s] - min(p)
    cost = [2 * d["uncached"][a] + d["waitAhead"][a] for a in addr]
    wait = [d["uncached"][a] + d["waitAhead"][a] for a in addr]
    if regret < 10:
        kinds["the oracle agrees (regret < 10 ms)"].append(regret)
    elif cost[s] > min(cost) + 1 and wait[s] > min(wait) + 1:
        kinds["the filter's cheapest was elsewhere"].append(regret)
        # Logs of builds that name the bounds ("leftOut"): which one left out the cheapest.
        cheapest = addr[min(range(len(addr)), key=lambda i: cost[i])]
        bound = d.get("leftOut", {}).get(cheapest, "none named" if "leftOut" in d else "not logged")
        bounds[bound] = bounds.get(bound, 0) + 1
    else:
        kinds["the filter's cheapest, not the oracle's"].append(regret)
print(f"slowest 5%: {len(top)} requests")
for k, v in kinds.items():
    print(f"  {k}: {len(v)}, regret {sum(v):.0f} ms in all")
if bounds:
    print("  the bound that left out the filter's cheapest (by cost):", bounds)
