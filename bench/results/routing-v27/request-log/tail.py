import json,sys,statistics as st
rows=[json.loads(l) for l in open(sys.argv[1])]
rows=[r for r in rows if not r.get('warmup')]
for r in rows:
  r['ttft']=r['firstTokenMs']-r['arrivalMs']
  p=r['predictedTtftMsByServer']; r['regret']=p[r['server']]-min(p); r['pred']=p[r['server']]
  r['missed']=max(r['cachedAtArrivalByServer'])-r['cachedAtArrivalByServer'][r['server']]
rows.sort(key=lambda r:r['ttft'])
n=len(rows); k=max(1,n//50)
print('n',n,'p50',rows[n//2]['ttft'],'p90',rows[int(n*.9)]['ttft'],'p99',rows[int(n*.99)]['ttft'])
print('total regret ms',round(sum(r['regret'] for r in rows)),'requests with regret>20:',sum(1 for r in rows if r['regret']>20))
print('slowest 2%: ttft pred regret missed prompt cached srv run wait tag decision-flags')
for r in rows[-k:]:
  d=json.loads(r['decision']) if r.get('decision') else {}
  print(round(r['ttft']),round(r['pred']),round(r['regret']),r['missed'],r['promptTokens'],r['cachedTokens'],r['server'],r['runningAtArrival'],r['waitingAtArrival'],r['tag'],d.get('overBound'),d.get('overWait'),d.get('loadOverrodeAffinity'),[round(x) for x in r['predictedTtftMsByServer']])
