import json,sys,statistics as st
rows=[json.loads(l) for l in open(sys.argv[1])]
last={}
stay=[];move=[]
for r in sorted(rows,key=lambda r:r['arrivalMs']):
  s=r['tag'].split('#')[0]
  ttft=r['firstTokenMs']-r['arrivalMs']
  if s in last and not r.get('warmup'):
    c=r['cachedAtArrivalByServer']
    (stay if last[s]==r['server'] else move).append((round(ttft),r['promptTokens']-r['cachedTokens'], max(c)-r['cachedTokens'], r['server'], last[s], c[last[s]]))
  last[s]=r['server']
for name,l in (('stay',stay),('move',move)):
  if l: print(name,len(l),'ttft med',st.median(x[0] for x in l),'max',max(x[0] for x in l),'uncached med',st.median(x[1] for x in l),'missed-best med',st.median(x[2] for x in l))
tt=sorted([r['firstTokenMs']-r['arrivalMs'] for r in rows if not r.get('warmup')])
print('p99 idx', tt[int(len(tt)*0.99)-1:])
print('slowest moves', sorted(move)[-10:])
print('slowest stays', sorted(stay)[-5:])
