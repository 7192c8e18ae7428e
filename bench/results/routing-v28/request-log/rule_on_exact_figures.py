# Next turns sent back to their previous turn's server, judged on the simulators' exact figures:
# A = tokens that server allocated (uncached prompt + output of the requests it admitted) after the
# previous turn ended, F = its free KV tokens when the next turn arrived, U = the cached tokens those
# requests took back beyond what another server also held (prefixes taken out of the free queue).
# Truth: more than 30% of the previous prompt and reply not cached at the next turn.
# For each rule "evicted when A + s*U > k*F": next turns taken as held that were evicted (false hits)
# and taken as evicted that were held (false evictions).
# python3 rule_on_exact_figures.py <(zcat pareto-prompts-s15.jsonl.gz)
import json, sys

rows = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r['arrivalMs'])
by_server = {}
for r in rows:
    by_server.setdefault(r['server'], []).append(r)
    held = sorted(r['cachedAtArrivalByServer'], reverse=True)
    r['reused'] = max(0, r['cachedTokens'] - held[1]) if len(held) > 1 else 0
cases, last = [], {}
for r in rows:
    session = r['tag'].split('#')[0]
    prev, last[session] = last.get(session), r
    if prev is None or prev['server'] != r['server'] or r.get('warmup'):
        continue
    since = [x for x in by_server[r['server']] if prev['doneMs'] <= x['admittedMs'] < r['arrivalMs']]
    alloc = sum(x['promptTokens'] - x['cachedTokens'] + x['outputTokens'] for x in since)
    reused = sum(x['reused'] for x in since)
    history = prev['promptTokens'] + prev['outputTokens']
    lost = (history - r['cachedTokens']) / history
    cases.append((alloc, reused, r['freeBlocksAtArrival'] * 16, lost > 0.3))
print('next turns back at their server', len(cases), 'evicted', sum(1 for c in cases if c[3]))
for s in (0, 0.25, 0.5, 1.0):
    for k in (0.5, 0.75, 0.9, 1.0, 1.2):
        rule = lambda c: c[0] + s * c[1] > k * c[2]
        fh = sum(1 for c in cases if not rule(c) and c[3])
        fe = sum(1 for c in cases if rule(c) and not c[3])
        print(f'A + {s:.2f} U > {k:.2f} F: false hits {fh:3d}, false evictions {fe:3d}')
