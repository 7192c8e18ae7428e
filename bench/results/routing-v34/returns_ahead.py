# Offline, on simulators' request logs (--request-log with debugHeaders): does
# counting the histories that came back from ahead of a conversation's own in
# its server's free queue tell held histories from pushed-out ones better than
# the blocks written since its turn ended alone?
#
# A finished request's blocks join the tail of the free queue; new blocks are
# taken from its head. A next turn that hits its own history there takes those
# blocks out of the queue, so every history behind them moves up by as many.
# For each next turn (history_judgements.cases_of), R is the sum of the
# private blocks (held at the server and nowhere else, as the filter predicted
# them at that request's decision) of next turns routed to the same server
# after this conversation's turn ended, whose own previous turn had ended
# there before it (ahead in the queue). Two parts:
#   1. misjudgements, history taken for held / for pushed out (128 tokens or
#      more lost: pushed out), and the regret they cost by the oracle's model,
#      with the clock W alone against the free part F at the turn's end, and
#      with W + R, at several thresholds k;
#   2. the logged next turns decided again (soft_judgement_replay.choose) with
#      the match at the previous server weighed by a chance falling from 1 to
#      0 across a ramp of (W [+ R]) / F, summed regret by the oracle's model.
# Usage: python3 returns_ahead.py 'GLOB' ...   (one pooled line block per glob)
import collections, glob, json, os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "routing-v33"))
from history_judgements import TOKENS_PER_BLOCK, cases_of, load  # noqa: E402
from soft_judgement_replay import choose, judged_matches, ramp  # noqa: E402

THRESHOLDS = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
RAMPS = {"W/F 0.85": (0.85, 0.85, False), "W/F 0.6-1.1": (0.6, 1.1, False), "(W+R)/F 1.1": (1.1, 1.1, True),
         "(W+R)/F 0.9-1.3": (0.9, 1.3, True), "(W+R)/F 0.8-1.4": (0.8, 1.4, True)}


def with_returns(path):
    rows = load(path)
    addr = list(json.loads(rows[0]["decision"])["uncached"].keys())
    last, prev_of = {}, {}
    for r in rows:
        session = r["tag"].split("#")[0]
        prev_of[id(r)], last[session] = last.get(session), r
        unc = json.loads(r["decision"])["uncached"]
        mine = unc[addr[r["server"]]]
        r["private"] = max(0, min(v for a, v in unc.items() if a != addr[r["server"]]) - mine) * TOKENS_PER_BLOCK
    by_server = collections.defaultdict(list)
    for r in rows:
        by_server[r["server"]].append(r)
    cases = [c for c in cases_of(rows) if c["free"] > 0]
    for c in cases:
        prev, turn = c["prev"], c["turn"]
        s = prev["server"]
        c["returned"] = sum(
            q["private"]
            for q in by_server[s]
            if prev["doneMs"] <= q["arrivalMs"] < turn["arrivalMs"]
            and prev_of[id(q)] is not None
            and prev_of[id(q)]["server"] == s
            and prev_of[id(q)]["doneMs"] < prev["doneMs"]
        )
    return addr, cases


def decided_again(addr, c, lo, hi, returns):
    read = judged_matches(addr, c)
    if read is None:
        return None
    d, s, p, unc, queued, held, evicted = read
    x = (c["routed"] + (c["returned"] if returns else 0)) / c["free"]
    u = list(unc)
    u[s] = evicted + ramp(x, lo, hi) * (held - evicted)
    chosen = choose(u, queued, d.get("leftOut", {}), addr)
    return p[chosen] - min(p)


def report(pattern):
    runs = [with_returns(f) for f in sorted(glob.glob(pattern))]
    cases = [c for _, cs in runs for c in cs]
    print(f"{pattern}: {len(cases)} next turns, {sum(c['evicted'] for c in cases)} pushed out in truth")
    for name, key in (("W/F", lambda c: c["routed"] / c["free"]), ("(W+R)/F", lambda c: (c["routed"] + c["returned"]) / c["free"])):
        cells = []
        for k in THRESHOLDS:
            fh = [c["fh_regret"] for c in cases if key(c) <= k and c["evicted"]]
            fe = [c["fe_regret"] for c in cases if key(c) > k and not c["evicted"]]
            cells.append(f"{k}: {len(fh)}/{len(fe)} {sum(fh) + sum(fe):,.0f} ms")
        print(f"  misjudged {name:8s} " + " | ".join(cells))
    cells = []
    logged = [c["turn"]["predictedTtftMsByServer"][c["turn"]["server"]] - min(c["turn"]["predictedTtftMsByServer"]) for c in cases]
    cells.append(f"logged: {sum(logged):,.0f} ms, {sum(x > 100 for x in logged)} > 100")
    for name, (lo, hi, returns) in RAMPS.items():
        regrets = [x for addr, cs in runs for c in cs if (x := decided_again(addr, c, lo, hi, returns)) is not None]
        cells.append(f"{name}: {sum(regrets):,.0f} ms, {sum(x > 100 for x in regrets)} > 100")
    print("  decided again, regret: " + " | ".join(cells))


if __name__ == "__main__":
    for pattern in sys.argv[1:]:
        report(pattern)
