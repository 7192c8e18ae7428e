# The A/B runs of ab-runs.txt (build, trace, seed, policy, start hhmmss, errors, hit rate, TTFT p50 / p90 / p99
# in client model ms, busiest / mean requests per server, load overrode affinity): each default-policy run of
# build A paired with the next run of build B on the same trace and seed (the two alternated), side by side,
# then per trace the geometric mean of the ratios A / B.
# python3 ab_ratios.py k75 head
import math, os, sys
from collections import defaultdict

a_name, b_name = sys.argv[1], sys.argv[2]
rows = [l.split() for l in open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ab-runs.txt'))]
rows = [r for r in rows if len(r) >= 11 and r[3] == 'default']
ratios = defaultdict(lambda: defaultdict(list))
for i, r in enumerate(rows):
    if r[0] != a_name:
        continue
    b = next((x for x in rows[i + 1:] if x[0] == b_name and x[1] == r[1] and x[2] == r[2]), None)
    if b is None:
        continue
    fa, fb = [float(v) for v in r[6:10]], [float(v) for v in b[6:10]]
    print(f'{r[1]:26s} s{r[2]:3s} {a_name}: hit {fa[0]:.3f} p50 {fa[1]:6.1f} p90 {fa[2]:6.1f} p99 {fa[3]:7.1f} | {b_name}: hit {fb[0]:.3f} p50 {fb[1]:6.1f} p90 {fb[2]:6.1f} p99 {fb[3]:7.1f}')
    for k, name in enumerate(('hit', 'p50', 'p90', 'p99')):
        ratios[r[1]][name].append(fa[k] / fb[k])
for trace, by in ratios.items():
    print(trace, {n: round(math.exp(sum(map(math.log, v)) / len(v)), 3) for n, v in by.items()}, 'pairs', len(by['p99']))
