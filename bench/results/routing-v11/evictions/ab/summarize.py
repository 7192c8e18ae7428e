#!/usr/bin/env python3
"""Means over the A/B runs in this folder: run{1,2}-{before,after}-seed-S.json (bench:routing --json)."""
import glob, json, collections
rows = collections.defaultdict(list)
for f in sorted(glob.glob("run*-seed-*.json")):
    run, build = f.split("-")[0], f.split("-")[1]
    for r in json.load(open(f)):
        if r["policy"] != "default":
            continue
        rows[(r["trace"], build)].append(r)
print("| trace | build | runs | hit | p50 | p90 | p99 | busiest / mean |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for (trace, build), rs in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] != "before")):
    m = lambda k: sum(r[k] for r in rs) / len(rs)
    print(f"| {trace} | {build} | {len(rs)} | {m('hitRate')*100:.1f}% | {m('ttftP50Ms'):.1f} | {m('ttftP90Ms'):.1f} | {m('ttftP99Ms'):.1f} | {m('maxMeanLoad'):.2f} |")
