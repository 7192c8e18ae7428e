"""The filter's written-blocks clock against what the servers wrote, from a
request log of the probe build in ../probes/free-at-end-debug.patch, run
with `bench:routing --request-log DIR --filter-config
'{"debugHeaders":true}'` (its decision header carries, per endpoint, the
clock, the free part of the cache in clock blocks and the learned blocks
per token, as the filter read them when it routed the request). For each
next turn, at the server of its turn before: the clock's advance from that
turn's end to this arrival (read off the first decision after the end and
this one's) over the KV blocks the server allocated in between, in clock
blocks (16 tokens a block times blocks per token); and the free part the
filter read just after the end over the exact one. Then seven rules for
"evicted" on the same turns: the filter's clock or the true writes, against
the filter's free part (at the end, now as main judges, or the smaller
of the two) or the exact one, and the true writes a scrape late (what a clock read off the
servers' token counters would know) against the filter's (truth as in evictions.py: under
60% of the turn before held, or at least 90%).
Usage: python3 clock.py LOG.jsonl[.gz] ..."""
import bisect
import json
import sys

from logs import blocks_allocated, by_server, next_turns, rows

# A scrape interval at the benchmark's time scale (50 real ms, 0.5 real ms per model ms), in model ms:
# how late a clock read off the servers' own counters would be.
SCRAPE_LAG_MS = 100


def quantiles(xs):
    xs = sorted(xs)
    return " ".join(f"p{int(p * 100)} {xs[int(p * (len(xs) - 1))]:.2f}" for p in (0.1, 0.5, 0.9))


for path in sys.argv[1:]:
    log = rows(path)
    servers, address = by_server(log), {}
    for r in log:
        r["_d"] = json.loads(r["decision"])
        address[r["server"]] = r["_d"]["endpoint"]
    arrivals = [r["arrivalMs"] for r in log]

    def clocks_after(t, a):
        i = bisect.bisect_left(arrivals, t)
        return log[i]["_d"]["clocks"][a] if i < len(log) else None

    advance, free, turns = [], [], []
    for before, r in next_turns(log):
        server = before["server"]
        a = address[server]
        at_end, now = clocks_after(before["doneMs"], a), r["_d"]["clocks"][a]
        if at_end is None:
            continue
        per_block = 16 * now[2]
        written = per_block * blocks_allocated(servers[server], before["doneMs"], r["arrivalMs"])
        late = per_block * blocks_allocated(servers[server], before["doneMs"] - SCRAPE_LAG_MS, r["arrivalMs"] - SCRAPE_LAG_MS)
        clock = now[0] - at_end[0]
        f_end = before["freeBlocksBeforeDone"] * per_block
        if written > 50 * per_block:
            advance.append(clock / written)
        if f_end > 0:
            free.append(at_end[1] / f_end)
        held = r["cachedAtArrivalByServer"][server] / before["promptTokens"]
        if not 0.6 <= held < 0.9:
            turns.append((held < 0.6, clock, written, at_end[1], f_end, now[1], late))
    print(path)
    print(f"  clock advance / blocks written: {quantiles(advance)} ({len(advance)} turns)")
    print(f"  free part read / exact:         {quantiles(free)}")
    for name, rule in (
        ("filter's clock > its free part now", lambda c, w, f, fe, fn, wl: c > fn),
        ("filter's clock > its free part at end", lambda c, w, f, fe, fn, wl: c > f),
        ("filter's clock > the smaller of both", lambda c, w, f, fe, fn, wl: c > min(f, fn)),
        ("blocks written > its free part at end", lambda c, w, f, fe, fn, wl: w > f),
        ("the same, a scrape late", lambda c, w, f, fe, fn, wl: wl > f),
        ("filter's clock > exact free part", lambda c, w, f, fe, fn, wl: c > fe),
        ("blocks written > exact free part", lambda c, w, f, fe, fn, wl: w > fe),
    ):
        n = [0, 0, 0, 0]
        for lost, c, w, f, fe, fn, wl in turns:
            n[(0 if lost else 1) if rule(c, w, f, fe, fn, wl) else (2 if lost else 3)] += 1
        print(f"  {name:38s} evicted, right {n[0]:3d}; evicted, held {n[1]:3d}; held, lost {n[2]:3d}; held, right {n[3]:3d}")
