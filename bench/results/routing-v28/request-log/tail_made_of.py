# Per TTFT band of the measured requests: how many were themselves a false hit (the filter took at most
# 30% of the prompt as uncached where it sent it, the server prefilled more than half), how many had one
# queued ahead of them at their server, and the prefill tokens ahead of them the filter did not expect.
# Needs a request log written with --filter-config {"debugHeaders":true} (the decision's "uncached").
# python3 tail_made_of.py <(zcat pareto-prompts-s15.jsonl.gz)
import json,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
rows=[r for r in rows if r.get('decision')]
addr=list(json.loads(rows[0]['decision'])['uncached'].keys())
for r in rows:
  d=json.loads(r['decision']); unc=[d['uncached'][a] for a in addr]; P=max(unc) or 1; s=r['server']
  r['pu']=unc[s]/P; r['au']=(r['promptTokens']-r['cachedTokens'])/r['promptTokens']
  r['fh']= r['pu']<0.3 and r['au']>0.5
  # excess prefill tokens not predicted
  r['extra']=max(0,(r['au']-r['pu'])*r['promptTokens'])
  r['ttft']=r['firstTokenMs']-r['arrivalMs']
main=[r for r in rows if not r.get('warmup')]
main.sort(key=lambda r:r['ttft'])
n=len(main)
for lo,hi in ((0,0.5),(0.5,0.9),(0.9,0.95),(0.95,1.0)):
  seg=main[int(n*lo):int(n*hi)]
  own=sum(1 for r in seg if r['fh'])
  ahead=0; extra=0
  for r in seg:
    q=[x for x in rows if x['server']==r['server'] and x['arrivalMs']<r['arrivalMs']<x['firstTokenMs']]
    e=sum(x['extra'] for x in q)
    extra+=e
    if any(x['fh'] for x in q): ahead+=1
  print(f'{lo}-{hi}: n={len(seg)} own-false-hit={own} false-hit-ahead={ahead} mean-unpredicted-tokens-ahead={extra/len(seg):.0f}')
