// The gauge llm_picker.vm.heap_bytes: the linear memory of every live VM of
// this filter, summed across Envoy's workers. Linear memory only grows (Wasm
// cannot shrink it), so a leak shows as a gauge that keeps rising under a
// steady load, and a bounded filter as one that levels off (docs/reliability.md).
// Each VM adds the change since its last report, and takes its whole share
// back when its last root context is retired (a swap that replaces the VM).
import { defineMetric, incrementMetric, MetricType } from "./host";

const PAGE_BYTES: i64 = 65536;
let metric: u32 = u32.MAX_VALUE;
let reported: i64 = 0;
let liveRoots: i32 = 0;

/** Brings this VM's share of the gauge up to date (one comparison when nothing changed). */
export function reportHeap(): void {
  const now = <i64>memory.size() * PAGE_BYTES;
  if (now == reported) return;
  if (metric == u32.MAX_VALUE) metric = defineMetric(MetricType.Gauge, "llm_picker.vm.heap_bytes");
  incrementMetric(metric, now - reported);
  reported = now;
}

export function rootConfigured(): void {
  liveRoots++;
  reportHeap();
}

/** A root context is retired; when it was the VM's last one, the VM's share leaves the gauge. */
export function rootRetired(): void {
  if (liveRoots > 0) liveRoots--;
  if (liveRoots > 0 || reported == 0) return;
  incrementMetric(metric, -reported);
  reported = 0;
}
