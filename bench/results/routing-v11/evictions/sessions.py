#!/usr/bin/env python3
"""Splits a `bench:routing --request-log DIR` file by conversation.

Each line is one request as a simulated server served it; its `tag` is
"<session>#<trace index>" (the benchmark's x-sim-tag header). Every request
after a session's first is put in one class, from the server that served its
previous turn and what that server still had cached:

  first         the session's first request
  stay-hit      same server as the previous turn, and it still held that
                turn's prompt (cached tokens >= that prompt's tokens - 32)
  stay-evicted  same server, but it had evicted the previous turn
  moved         another server

Usage: sessions.py FILE.jsonl [FILE.jsonl ...]
Prints, per file and class: requests, mean uncached tokens, TTFT p50 and
mean at the server (model ms).
"""
import collections
import json
import sys

CLASSES = ["first", "stay-hit", "stay-evicted", "moved"]


def classify(rows):
    by_session = collections.defaultdict(list)
    for r in rows:
        session, index = r["tag"].rsplit("#", 1)
        by_session[session].append((int(index), r))
    out = collections.defaultdict(list)
    for turns in by_session.values():
        turns.sort(key=lambda t: t[0])
        prev = None
        for _, r in turns:
            if prev is None:
                c = "first"
            elif r["server"] != prev["server"]:
                c = "moved"
            elif r["cachedTokens"] < prev["promptTokens"] - 32:
                c = "stay-evicted"
            else:
                c = "stay-hit"
            out[c].append(r)
            prev = r
    return out


def main(paths):
    for path in paths:
        rows = [json.loads(line) for line in open(path) if line.strip()]
        ttft = sorted(r["firstTokenMs"] - r["arrivalMs"] for r in rows)
        print(f"{path}: {len(rows)} requests, TTFT p50 {ttft[len(ttft) // 2]:.0f} ms")
        split = classify(rows)
        for c in CLASSES:
            rs = split.get(c, [])
            if not rs:
                print(f"  {c:13s} n=   0")
                continue
            t = sorted(r["firstTokenMs"] - r["arrivalMs"] for r in rs)
            uncached = sum(r["promptTokens"] - r["cachedTokens"] for r in rs) / len(rs)
            print(f"  {c:13s} n={len(rs):4d} uncached/request={uncached:6.0f} TTFT p50={t[len(t) // 2]:5.0f} mean={sum(t) / len(t):5.0f}")


if __name__ == "__main__":
    main(sys.argv[1:])
