# false hit := the server prefilled at least 128 tokens (8 blocks) more than the filter's "uncached" there predicted
import json,sys,gzip
rows=[json.loads(l) for l in gzip.open(sys.argv[1],'rt')]
rows=[r for r in rows if r.get('decision')]
addr=list(json.loads(rows[0]['decision'])['uncached'].keys())
for r in rows:
  d=json.loads(r['decision']); s=r['server']
  pred=d['uncached'][addr[s]]*16
  act=r['promptTokens']-r['cachedAtArrivalByServer'][s]
  r['extra']=max(0,act-pred); r['fh']=r['extra']>=128
  r['ttft']=r['firstTokenMs']-r['arrivalMs']
  r['regret']=r['predictedTtftMsByServer'][s]-min(r['predictedTtftMsByServer'])
main=[r for r in rows if not r.get('warmup')]
main.sort(key=lambda r:r['ttft']); n=len(main)
print('false hits', sum(r['fh'] for r in main), 'of', n)
for lo,hi in ((0,0.5),(0.5,0.9),(0.9,0.95),(0.95,0.99),(0.99,1.0)):
  seg=main[int(n*lo):int(n*hi)]
  own=sum(1 for r in seg if r['fh'])
  ahead=0; extra=0
  for r in seg:
    q=[x for x in rows if x['server']==r['server'] and x['arrivalMs']<r['arrivalMs']<x['firstTokenMs']]
    extra+=sum(x['extra'] for x in q)
    if any(x['fh'] for x in q): ahead+=1
  print(f'{lo}-{hi}: n={len(seg)} ttft~{seg[len(seg)//2]["ttft"]:.0f} own-false-hit={own} false-hit-ahead={ahead} unpredicted-tokens-ahead={extra/len(seg):.0f} regret={sum(r["regret"] for r in seg)/len(seg):.1f}')
