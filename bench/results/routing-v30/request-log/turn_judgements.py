# For every next turn of a conversation (its previous turn's server S known), the filter's judgement at S
# (its decision's "uncached" at S, in 64-byte blocks) against the truth (the simulator's cached tokens at S).
# held-by-filter: uncached[S] < uncached elsewhere's minimum - 4 blocks; held-in-truth: lost < 128 tokens of the history.
import json,sys,gzip
rows=sorted((json.loads(l) for l in gzip.open(sys.argv[1],'rt')), key=lambda r:r['arrivalMs'])
rows=[r for r in rows if r.get('decision')]
addr=list(json.loads(rows[0]['decision'])['uncached'].keys())
last={}; fh=fe=th=tf=0; n=0; sent_fh=0; sent_fe_elsewhere=0
for r in rows:
    sess=r['tag'].split('#')[0]; prev=last.get(sess); last[sess]=r
    if prev is None or r.get('warmup'): continue
    S=prev['server']; d=json.loads(r['decision']); unc=[d['uncached'][a] for a in addr]
    other=min(u for i,u in enumerate(unc) if i!=S)
    filt_held = unc[S] < other - 4
    hist=prev['promptTokens']+prev['outputTokens']
    lost=hist-r['cachedAtArrivalByServer'][S]
    true_held = lost < 128
    n+=1
    if filt_held and not true_held:
        fh+=1
        if r['server']==S: sent_fh+=1
    if not filt_held and true_held:
        fe+=1
        if r['server']!=S: sent_fe_elsewhere+=1
    th+=true_held
print(f"{sys.argv[1].split('/')[-2] if '/' in sys.argv[1] else ''} next turns {n}, held in truth {th}; filter: false hits {fh} (sent there {sent_fh}), false evictions {fe} (sent elsewhere {sent_fe_elsewhere})")
