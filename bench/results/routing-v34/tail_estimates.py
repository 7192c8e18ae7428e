# The slowest 5% of each logged default run (--request-log with debugHeaders):
# for each request whose server the oracle's model, at its arrival, ranks
# more than 10 ms behind the best (regret), which of the filter's estimates
# chose wrong. With the true uncached blocks at every server (prompt less
# what the server held at arrival) in place of the filter's, its queues kept,
# would its rule (2 × uncached + queued) have ranked the oracle's best ahead?
#   uncached: the chosen server looked to hold more than it did ("s looked
#             held") or the best looked to hold less ("b looked cold");
#   queue:    no: the true uncached blocks agree with the choice, and the
#             difference is in the queued work or past the filter's model.
# Each is tagged with where the request's conversation was last routed
# (prev=b: the best; prev=s: the chosen; first turn; elsewhere) and with the
# bound that left the best out, if one did (the decision's leftOut).
# Usage: python3 tail_estimates.py 'GLOB' ...   (one pooled block per glob)
import collections, glob, gzip, json, sys

TOKENS_PER_BLOCK = 64 / 4.9


def rows_of(path):
    opener = gzip.open if path.endswith(".gz") else open
    rows = sorted((json.loads(l) for l in opener(path, "rt")), key=lambda r: r["arrivalMs"])
    last = {}
    for r in rows:
        session = r["tag"].split("#")[0]
        r["prevServer"], last[session] = last.get(session), r["server"]
    return [r for r in rows if r.get("decision") and not r.get("warmup")]


def kind_of(r, addr):
    d = json.loads(r["decision"])
    s, p = r["server"], r["predictedTtftMsByServer"]
    b = min(range(len(p)), key=lambda i: p[i])
    regret = p[s] - p[b]
    if regret <= 10:
        return "the oracle agrees (regret ≤ 10 ms)", 0.0
    unc = [d["uncached"][a] for a in addr]
    queued = [d["waitAhead"][a] for a in addr]
    true_unc = [(r["promptTokens"] - r["cachedAtArrivalByServer"][i]) / TOKENS_PER_BLOCK for i in range(len(addr))]
    if 2 * true_unc[b] + queued[b] < 2 * true_unc[s] + queued[s]:
        kind = "uncached: s looked held" if unc[s] < true_unc[s] - 20 else "uncached: b looked cold" if unc[b] > true_unc[b] + 20 else "uncached: small"
    else:
        kind = "queue"
    prev = r["prevServer"]
    kind += " [prev=b]" if prev == b else " [prev=s]" if prev == s else " [first turn]" if prev is None else " [prev elsewhere]"
    left = d.get("leftOut", {}).get(addr[b])
    return kind + (f" (best left out: {left})" if left else ""), regret


for pattern in sys.argv[1:]:
    counts, regrets = collections.Counter(), collections.Counter()
    for path in sorted(glob.glob(pattern)):
        rows = rows_of(path)
        addr = list(json.loads(rows[0]["decision"])["uncached"].keys())
        rows.sort(key=lambda r: r["arrivalMs"] - r["firstTokenMs"])
        for r in rows[: len(rows) // 20]:
            kind, regret = kind_of(r, addr)
            counts[kind] += 1
            regrets[kind] += regret
    print(f"{pattern}: slowest 5% of each run")
    for kind, n in counts.most_common():
        print(f"  {n:4d} {regrets[kind]:8,.0f} ms  {kind}")
