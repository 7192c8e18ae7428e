# Requests that arrived at a full batch (32 running): the filter's queued term at
# the server it chose (waitAhead, blocks) against the wait for a place the server
# logged (admission − arrival, model ms), and the first full batches of the run.
# Usage: python3 full_batch_waits.py pareto-prompts-s21-main.jsonl.gz
import gzip, json, sys

rows = [json.loads(l) for l in gzip.open(sys.argv[1], "rt")]
rows = [r for r in rows if r.get("decision")]
addr = list(json.loads(rows[0]["decision"])["uncached"].keys())
full = []
for r in rows:
    if r["runningAtArrival"] < 32:
        continue
    wait_blocks = json.loads(r["decision"])["waitAhead"][addr[r["server"]]]
    full.append((round(r["arrivalMs"]), r["server"], round(wait_blocks), round(r["admittedMs"] - r["arrivalMs"]), r["freeBlocksAtArrival"]))
full.sort()
print("arrivals at a full batch:", len(full))
print("first ones (arrival ms, server, filter's wait in blocks, wait for a place ms, free KV blocks):")
for f in full[:8]:
    print(" ", f)
