/** Envoy's admin interface as a deploy polls it: the ECDS counters of the llm-picker filter. */
import { readEcdsCounters, type EcdsCounters } from "../../envoy/ecds.js";

/** The counters now, or why they cannot be read. */
export async function probeAdmin(admin: string): Promise<EcdsCounters | string> {
  try {
    const counters = await readEcdsCounters(admin);
    if (counters === null) return `Envoy at ${admin} has no ECDS filter named llm-picker (is it running envoy-ecds.yaml?)`;
    return counters;
  } catch (error) {
    return `cannot reach Envoy's admin at ${admin} (${(error as Error).message})`;
  }
}
