"""How much of a trace no router can serve from cache: requests of sessions
that began before the trace opens. The generators start sessions before
time 0 and keep only requests at t >= 0 (src/bench/traces/common.ts
fromSessions), so a session under way at 0 first appears with its history
in the prompt (more than one user message) although no server was ever sent
the earlier turns. Its first request in the trace is cold by construction,
whatever the policy; its later ones can hit. Prints, per trace, requests,
sessions, true first turns, such cold mid-session openings (and their share
of the requests) and later turns.
Usage: cold_sessions.py TRACE.jsonl [...] (JSON Lines as `--save-traces`
writes them)."""
import json
import os
import sys


def kinds(trace_path):
    """Each request's kind, in trace order: "first" (a session's first turn),
    "cold" (a session's first request in the trace, its history never sent)
    or "later"."""
    seen = set()
    out = []
    with open(trace_path) as f:
        for line in f:
            r = json.loads(line)
            body = r["body"] if isinstance(r["body"], dict) else json.loads(r["body"])
            users = sum(1 for m in body.get("messages", []) if m.get("role") == "user")
            session = r.get("session")
            if session is not None and session in seen:
                out.append("later")
                continue
            if session is not None:
                seen.add(session)
            out.append("cold" if users > 1 else "first")
    return out


if __name__ == "__main__":
    for path in sys.argv[1:]:
        k = kinds(path)
        n = len(k)
        first, cold, later = k.count("first"), k.count("cold"), k.count("later")
        name = os.path.basename(path)
        print(f"{name:28s} requests {n:5d} sessions {first + cold:5d} first turns {first:5d} cold mid-session {cold:4d} ({100 * cold / n:3.0f}%) later turns {later:5d}")
