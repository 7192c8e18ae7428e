import json,sys,statistics as st
def pct(v,p):
    v=sorted(v); return v[min(len(v)-1,max(0,int(round(p/100*len(v)+0.5))-1))]
for pol in sys.argv[2:]:
    rs=[json.loads(l) for l in open(f'{sys.argv[1]}/multi-turn-{pol}.jsonl')]
    for r in rs:
        r['ttft']=r['firstTokenMs']-r['arrivalMs']; r['slot']=r['admittedMs']-r['arrivalMs']
        r['queue']=r['prefillStartMs']-r['admittedMs']; r['own']=r['firstTokenMs']-r['prefillStartMs']
        r['unc']=r['promptTokens']-r['cachedTokens']
    n=len(rs)
    m=lambda k: sum(r[k] for r in rs)/n
    print(f"{pol:12s} n {n} ttft mean {m('ttft'):.0f} p50 {pct([r['ttft'] for r in rs],50):.0f} | mean slot-wait {m('slot'):.1f} queue-wait {m('queue'):.1f} own prefill {m('own'):.1f} | uncached tokens mean {m('unc'):.0f} total {sum(r['unc'] for r in rs)} | per-server requests {sorted([sum(1 for r in rs if r['server']==s) for s in range(8)])}")
    med=sorted(rs,key=lambda r:r['ttft'])[n//2-n//10:n//2+n//10]
    mm=lambda k: sum(r[k] for r in med)/len(med)
    print(f"{'':12s} around the median (40-60%): slot {mm('slot'):.1f} queue {mm('queue'):.1f} own {mm('own'):.1f} uncached {mm('unc'):.0f}")
