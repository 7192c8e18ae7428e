"""Which rule tells a conversation's evicted history from a held one, judged
on the simulators' exact figures, from a request log written with
`bench:routing --request-log DIR` (needs `doneMs`, `freeBlocksBeforeDone`
and `outputTokens`). For each next turn, at the server of its turn before:
the KV blocks that server allocated after that turn ended and before this
one arrived (prompt and output blocks of every request admitted there in
between, less their cached blocks), against the blocks free just before
that turn released its own (F_end, the queue its history joined) or free
when the last request before this one arrived there (F_now). Truth: the
server held under 60% of the turn before's prompt (lost) or at least 90%
(held); turns in between are left out.
Usage: python3 evictions.py LOG.jsonl[.gz] ..."""
import sys

from logs import blocks_allocated, by_server, next_turns, rows


RULES = {
    "written > F_end": lambda w, f_end, f_now: w > f_end,
    "written > F_now": lambda w, f_end, f_now: w > f_now,
    "written > min(F_end, F_now)": lambda w, f_end, f_now: w > min(f_end, f_now),
}

totals = {name: [0, 0, 0, 0] for name in RULES}
for path in sys.argv[1:]:
    log = rows(path)
    servers = by_server(log)
    for before, r in next_turns(log):
        server = before["server"]
        held = r["cachedAtArrivalByServer"][server] / before["promptTokens"]
        if 0.6 <= held < 0.9:
            continue
        there = servers[server]
        written = blocks_allocated(there, before["doneMs"], r["arrivalMs"])
        earlier = [q for q in there if q["arrivalMs"] < r["arrivalMs"]]
        f_now = earlier[-1]["freeBlocksAtArrival"]
        for name, rule in RULES.items():
            evicted = rule(written, before["freeBlocksBeforeDone"], f_now)
            lost = held < 0.6
            totals[name][(0 if lost else 1) if evicted else (2 if lost else 3)] += 1
for name, (tp, fp, fn, tn) in totals.items():
    print(f"{name:28s} evicted, right {tp:4d}; evicted, held {fp:4d}; held, lost {fn:4d}; held, right {tn:4d}")
