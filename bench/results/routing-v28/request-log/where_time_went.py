# Per TTFT band of the measured requests: where their time went (waiting for a place, the prefill
# queue ahead, their own prefill), and the batch and free KV blocks they found.
# python3 where_time_went.py <(zcat shared-prompt-s15.jsonl.gz)
import json,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
rows=[r for r in rows if not r.get('warmup')]
for r in rows: r['ttft']=r['firstTokenMs']-r['arrivalMs']
rows.sort(key=lambda r:r['ttft'])
n=len(rows)
for lo,hi in ((0,.5),(.5,.9),(.9,.95),(.95,.99),(.99,1)):
  seg=rows[int(n*lo):int(n*hi)]
  adm=sum(r['admittedMs']-r['arrivalMs'] for r in seg)/len(seg)
  q=sum(r['prefillStartMs']-r['admittedMs'] for r in seg)/len(seg)
  pf=sum(r['firstTokenMs']-r['prefillStartMs'] for r in seg)/len(seg)
  print(f'{lo}-{hi}: ttft {sum(r["ttft"] for r in seg)/len(seg):.0f} = admit-wait {adm:.1f} + prefill-queue {q:.1f} + own prefill {pf:.1f}; run {sum(r["runningAtArrival"] for r in seg)/len(seg):.1f} free {sum(r["freeBlocksAtArrival"] for r in seg)/len(seg):.0f}')
