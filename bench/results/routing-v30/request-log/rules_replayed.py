# Offline: judge each next turn sent back to (or judged at) its previous turn's server S with the filter-like clock.
import json,sys,gzip
rows=sorted((json.loads(l) for l in gzip.open(sys.argv[1],'rt')), key=lambda r:r['arrivalMs'])
rows=[r for r in rows if r.get('decision')]
addr=list(json.loads(rows[0]['decision'])['uncached'].keys())
TOK=16*64/ (4.9*16)  # tokens per 64-byte block at ~4.9 bytes/token
for r in rows:
    d=json.loads(r['decision']); s=r['server']
    pred=d['uncached'][addr[s]]*TOK
    act=r['promptTokens']-r['cachedTokens']
    r['clk']=pred; r['unexp']=max(0,act-pred); r['exact']=act+r['outputTokens']
tot_exact=sum(r['exact'] for r in rows); tot_clk=sum(r['clk'] for r in rows); tot_fold=sum(r['clk']+r['unexp'] for r in rows)
c_clk=tot_exact/tot_clk; c_fold=tot_exact/tot_fold
by={}
for r in rows: by.setdefault(r['server'],[]).append(r)
last={}; cases=[]
for r in rows:
    sess=r['tag'].split('#')[0]; prev=last.get(sess); last[sess]=r
    if prev is None or r.get('warmup'): continue
    S=prev['server']
    win=[x for x in by[S] if prev['doneMs']<=x['arrivalMs']<r['arrivalMs']]
    a_clk=sum(x['clk'] for x in win)*c_clk
    a_fold=sum(x['clk']+x['unexp'] for x in win)*c_fold
    adm=[x for x in by[S] if prev['doneMs']<=x['admittedMs']<r['arrivalMs']]
    a_ex=sum(x['exact'] for x in adm)
    hist=prev['promptTokens']+prev['outputTokens']
    lost=hist-r['cachedAtArrivalByServer'][S]
    cases.append(dict(clk=a_clk,fold=a_fold,ex=a_ex,Fend=prev['freeBlocksBeforeDone']*16,Fnow=r['freeBlocksAtArrival']*16,ev=lost>=128))
print(sys.argv[1].split('/')[-1],'cases',len(cases),'evicted',sum(c['ev'] for c in cases), 'c_clk %.2f c_fold %.2f'%(c_clk,c_fold))
for A in ('clk','fold','ex'):
  for F in ('Fnow','Fend'):
    out=[]
    for k in (0.8,0.85,0.9,1.0):
      fh=sum(1 for c in cases if not c[A]>k*c[F] and c['ev']); fe=sum(1 for c in cases if c[A]>k*c[F] and not c['ev'])
      out.append(f'k{k}: {fh:3d}/{fe:3d}')
    print(f'  A={A:4s} {F}: FH/FE', '  '.join(out))
