"""Where each conversation's next turn went, from a request log
(bench:routing --request-log): turns that stayed on the server of the turn
before and found it still cached there, turns that stayed but found it
evicted (cached < 60% of the previous turn's prompt: the server re-prefilled
the history), and turns that moved. Also the time requests spent waiting for
a place (admission) and queued behind other prefills, in all.
Usage: python3 turns.py LOG.jsonl[.gz] ..."""
import gzip
import json
import sys


def rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return sorted((json.loads(line) for line in f), key=lambda r: r["arrivalMs"])


for path in sys.argv[1:]:
    rs = rows(path)
    ttft = sorted(r["firstTokenMs"] - r["arrivalMs"] for r in rs)
    n = len(rs)
    last = {}
    stayed = evicted = evicted_tokens = moved = 0
    for r in rs:
        session = r["tag"].split("#")[0]
        if session in last:
            server, prompt = last[session]
            if r["server"] != server:
                moved += 1
            elif r["cachedTokens"] < 0.6 * prompt:
                evicted += 1
                evicted_tokens += r["promptTokens"] - r["cachedTokens"]
            else:
                stayed += 1
        last[session] = (r["server"], r["promptTokens"])
    place = sum(r["admittedMs"] - r["arrivalMs"] for r in rs)
    queued = sum(r["prefillStartMs"] - r["admittedMs"] for r in rs)
    print(f"{path}: p50 {ttft[n // 2]:.0f} p99 {ttft[int(n * 0.99)]:.0f} ms; next turns: "
          f"stayed, cached {stayed}; stayed, evicted {evicted} ({evicted_tokens} tokens re-prefilled); "
          f"moved {moved}; waiting for a place {place:.0f} ms, queued {queued:.0f} ms in all")
