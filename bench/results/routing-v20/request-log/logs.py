"""What the scripts beside this file share: reading a request log, and a
conversation's turns in pairs."""
import gzip
import json
import math


def rows(path):
    """A request log's lines (gzipped or not), in order of arrival."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return sorted((json.loads(line) for line in f), key=lambda r: r["arrivalMs"])


def by_server(log):
    """The log's requests per server index, in order of arrival."""
    out = {}
    for r in log:
        out.setdefault(r["server"], []).append(r)
    return out


def next_turns(log):
    """(turn before, next turn) for every request whose conversation (its tag's session) had a turn before it."""
    last = {}
    for r in log:
        session = r["tag"].split("#")[0]
        before = last.get(session)
        last[session] = r
        if before is not None:
            yield before, r


def blocks_allocated(requests, start, end):
    """KV blocks of 16 tokens the requests admitted in (start, end) took from the free queue: prompt and output, less their cached blocks."""
    return sum(math.ceil((q["promptTokens"] + q["outputTokens"]) / 16) - q["cachedTokens"] // 16 for q in requests if start < q["admittedMs"] < end)
