# Counterfactual, offline: each next turn of a logged default run decided
# again from its own decision line, with the previous server's history
# judged one of these ways, and scored by the oracle's model at arrival
# (the predicted TTFT at the endpoint chosen against the best):
#   logged        the endpoint the filter chose;
#   hard 0.85     held while the clock moved at most 0.85 of the free part at
#                 the turn's end (the filter's rule, on history_judgements.py's
#                 replayed clock), evicted past it;
#   soft a-b      the uncached blocks at that server are the expected ones:
#                 held with a probability falling linearly from 1 at a × the
#                 free part to 0 at b × (the share held in truth by the
#                 clock's advance, history_judgements.py, falls from about 1
#                 at 0.55 to about 0 at 1.2).
# The decision again: the endpoints the load and batch bounds left out
# (the decision line's leftOut) stay out, the wait bound (1.25) is applied to
# the new uncached blocks, the lowest 2 × uncached + queued wins. What the
# choice changes downstream (queues, other requests) is not replayed.
# Usage: python3 soft_judgement_replay.py LOG.jsonl[.gz] ...
import collections, json, sys

from history_judgements import cases_of, load

WAIT_RATIO = 1.25


def ramp(x, a, b):
    return 1.0 if x <= a else 0.0 if x >= b else (b - x) / (b - a)


def prompt_blocks(d, addr):
    """The filter's prompt blocks P, from its score P / (P + cost) at an endpoint whose cost is positive."""
    for a in addr:
        cost = 2 * d["uncached"][a] + d["waitAhead"][a]
        score = d["scores"]["predicted-prefill"][a]
        if score < 1 and cost > 0:
            return score * cost / (1 - score)
    return None


def choose(unc, queued, left_out, addr):
    kept = [i for i in range(len(addr)) if left_out.get(addr[i]) not in ("load", "batch")]
    wait = {i: unc[i] + queued[i] for i in kept}
    best = min(wait.values())
    kept = [i for i in kept if wait[i] <= WAIT_RATIO * best + 1e-9]
    return min(kept, key=lambda i: 2 * unc[i] + queued[i])


def judged_matches(addr, c):
    """A next turn's logged decision read back: its decision, the previous
    server s, the oracle's predictions p, the uncached blocks and queues at
    each endpoint, and the uncached blocks at s if its history is held and
    if it was pushed out (None: no prompt size to read)."""
    prev, r = c["prev"], c["turn"]
    d = json.loads(r["decision"])
    s, p = prev["server"], r["predictedTtftMsByServer"]
    unc = [d["uncached"][a] for a in addr]
    queued = [d["waitAhead"][a] for a in addr]
    P = prompt_blocks(d, addr)
    if P is None:
        return None
    elsewhere = min(u for i, u in enumerate(unc) if i != s)
    judged_held = unc[s] < elsewhere - 4
    new_share = max(0.0, 1 - (prev["promptTokens"] + prev["outputTokens"]) / r["promptTokens"])
    held = unc[s] if judged_held else P * new_share
    evicted = elsewhere if judged_held else unc[s]
    return d, s, p, unc, queued, held, evicted


def replay(path):
    rows = load(path)
    addr = list(json.loads(rows[0]["decision"])["uncached"].keys())
    cases = cases_of(rows)
    rules = {"logged": None, "hard 0.85": (0.85, 0.85), "soft 0.5-1.2": (0.5, 1.2), "soft 0.6-1.1": (0.6, 1.1), "soft 0.4-1.4": (0.4, 1.4)}
    totals = collections.defaultdict(lambda: [0.0, 0, 0])
    for c in cases:
        r = c["turn"]
        read = judged_matches(addr, c)
        if read is None:
            continue
        d, s, p, unc, queued, held, evicted = read
        x = c["routed"] / c["free"] if c["free"] > 0 else float("inf")
        for name, rule in rules.items():
            if rule is None:
                chosen = r["server"]
            else:
                chance = ramp(x, *rule)
                u = list(unc)
                u[s] = evicted + chance * (held - evicted)
                chosen = choose(u, queued, d.get("leftOut", {}), addr)
            regret = p[chosen] - min(p)
            t = totals[name]
            t[0] += regret
            t[1] += regret > 50
            t[2] += regret > 100
    cells = " | ".join(f"{k}: {v[0]:,.0f} ms, {v[1]} > 50, {v[2]} > 100" for k, v in totals.items())
    print(f"{path.split('/')[-1]}: {len(cases)} next turns; regret in all, decisions over 50 and 100 ms: {cells}")


if __name__ == "__main__":
    for path in sys.argv[1:]:
        replay(path)
