# Pools the server-side TTFT of the measured requests over request logs of several seeds, per policy
# (default and oracle), and prints each seed's figures and the pooled ones.
# python3 pooled.py pareto-prompts DIR/pareto-s   (reads DIR/pareto-s*/pareto-prompts-{default,oracle}.jsonl)
import json,sys,glob
# pooled.py TRACE DIRPREFIX: pools the measured requests' TTFT (server side) over every seed's request log, per policy
trace=sys.argv[1]; dirs=sorted(glob.glob(sys.argv[2]+'*'))
def pct(v,p):
  v=sorted(v); return v[min(len(v)-1,max(0,-(-int(p*len(v)*1000)//1000)-1))] if v else float('nan')
def q(v,p):
  import math
  v=sorted(v); return v[min(len(v)-1,max(0,math.ceil(p*len(v))-1))]
pool={}
for d in dirs:
  per={}
  for pol in ('default','oracle'):
    f=f'{d}/{trace}-{pol}.jsonl'
    try: rows=[json.loads(l) for l in open(f)]
    except FileNotFoundError: continue
    t=[r['firstTokenMs']-r['arrivalMs'] for r in rows if not r.get('warmup')]
    per[pol]=t; pool.setdefault(pol,[]).extend(t)
  if len(per)==2:
    print(d.split('/')[-1], ' '.join(f"{p}: n {len(v)} p50 {q(v,.5):.1f} p90 {q(v,.9):.1f} p99 {q(v,.99):.1f}" for p,v in per.items()), f"p99 ratio {q(per['default'],.99)/q(per['oracle'],.99):.2f}")
for p,v in pool.items(): print('pooled',p,'n',len(v),'p50 %.1f p90 %.1f p99 %.1f'%(q(v,.5),q(v,.9),q(v,.99)))
if len(pool)==2: print('pooled ratios p50 %.2f p90 %.2f p99 %.2f'%tuple(q(pool['default'],x)/q(pool['oracle'],x) for x in (.5,.9,.99)))
