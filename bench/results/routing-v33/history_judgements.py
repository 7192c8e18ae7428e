# Offline replay of the judgement "does a conversation's previous server still
# hold its history?" (docs/hashing.md "A conversation's last turn") on a
# simulators' request log (--request-log with debugHeaders), for clocks that
# count the server's writes at different moments, and for shares k of the
# cache's free part at the turn's end:
#   routed   the filter's clock: each request's uncached blocks (its decision's
#            "uncached" at its server) counted when it is routed, plus the
#            prefill the server did beyond that, scaled to the server's writes;
#   admitted the same blocks counted when the server admitted the request;
#   first    the same blocks counted at its first token (the filter's pending
#            blocks are released then: its clock less its pending blocks);
#   exact    the tokens the server really wrote (uncached prompt + output),
#            counted at admission.
# A history is judged evicted when the clock moved more than k × the free
# part at its turn's end; evicted in truth when 128 tokens or more of it were
# lost at the next turn. For each: next turns judged held that were evicted
# (FH) / judged evicted that were held (FE); the regret each misjudgement
# costs by the oracle's model at arrival (FH: the previous server against the
# best; FE: the best other server against the previous one), summed and
# counted above 50 ms; and the share held in truth by the clock's advance
# over the free part (routed clock).
# Usage: python3 history_judgements.py LOG.jsonl[.gz] ...
import collections, gzip, json, sys

TOKENS_PER_BLOCK = 64 / 4.9  # 64-byte blocks at the traces' ~4.9 bytes per token
SHARES = (0.7, 0.85, 1.0, 1.15, 1.3)
CLOCKS = ("routed", "admitted", "first", "exact")


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    rows = sorted((json.loads(l) for l in opener(path, "rt")), key=lambda r: r["arrivalMs"])
    return [r for r in rows if r.get("decision")]


def cases_of(rows):
    addr = list(json.loads(rows[0]["decision"])["uncached"].keys())
    for r in rows:
        d = json.loads(r["decision"])
        predicted = d["uncached"][addr[r["server"]]] * TOKENS_PER_BLOCK
        actual = r["promptTokens"] - r["cachedTokens"]
        r["counted"] = predicted + max(0, actual - predicted)
        r["exact"] = actual + r["outputTokens"]
    scale = sum(r["exact"] for r in rows) / sum(r["counted"] for r in rows)
    by_server = collections.defaultdict(list)
    for r in rows:
        by_server[r["server"]].append(r)
    last, cases = {}, []
    for r in rows:
        session = r["tag"].split("#")[0]
        prev, last[session] = last.get(session), r
        if prev is None or r.get("warmup"):
            continue
        s, p = prev["server"], r["predictedTtftMsByServer"]
        since = lambda at, key: sum(x[key] for x in by_server[s] if prev["doneMs"] <= x[at] < r["arrivalMs"])
        lost = prev["promptTokens"] + prev["outputTokens"] - r["cachedAtArrivalByServer"][s]
        cases.append(
            dict(
                prev=prev,
                turn=r,
                routed=since("arrivalMs", "counted") * scale,
                admitted=since("admittedMs", "counted") * scale,
                first=since("firstTokenMs", "counted") * scale,
                exact=since("admittedMs", "exact"),
                free=prev["freeBlocksBeforeDone"] * 16,
                evicted=lost >= 128,
                fh_regret=max(0, p[s] - min(p)),
                fe_regret=max(0, min(x for i, x in enumerate(p) if i != s) - p[s]),
            )
        )
    return cases


def report(path):
    cases = cases_of(load(path))
    print(f"{path.split('/')[-1]}: {len(cases)} next turns, {sum(c['evicted'] for c in cases)} evicted in truth")
    for clock in CLOCKS:
        cells = []
        for k in SHARES:
            fh = [c["fh_regret"] for c in cases if c[clock] <= k * c["free"] and c["evicted"]]
            fe = [c["fe_regret"] for c in cases if c[clock] > k * c["free"] and not c["evicted"]]
            big = sum(1 for x in fh + fe if x > 50)
            cells.append(f"k {k}: {len(fh)}/{len(fe)}, {sum(fh) + sum(fe):,.0f} ms, {big} > 50")
        print(f"  {clock:8s} FH/FE, regret, misjudged > 50 ms:  " + " | ".join(cells))
    bins = collections.defaultdict(lambda: [0, 0])
    for c in cases:
        if c["free"] > 0:
            b = bins[min(int(c["routed"] / c["free"] * 10), 20)]
            b[0] += 1
            b[1] += not c["evicted"]
    print("  held in truth by routed clock ÷ free part:", " ".join(f"{k / 10:.1f}:{h}/{n}" for k, (n, h) in sorted(bins.items())))


if __name__ == "__main__":
    for path in sys.argv[1:]:
        report(path)
