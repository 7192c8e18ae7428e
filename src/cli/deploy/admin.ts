/** Envoy's admin interface as a deploy reads it: the ECDS counters of the llm-picker filter, and the listeners' buffer limits. */
import { readEcdsCounters, type EcdsCounters } from "../../envoy/ecds.js";
import { bodyLimitProblem, listenersFromConfigDump, listenersWithFilter, maxBodyBytesOf } from "../../envoy/limits.js";

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

/**
 * The running Envoy's listeners that carry the filter must buffer more than
 * the new configuration's maxBodyBytes (src/envoy/limits.ts): the refusals,
 * naming listener, fields and values. An admin whose config dump cannot be
 * read is not a refusal (the verdict step reports it).
 */
export async function bodyLimitProblems(admin: string, pluginConfig: string): Promise<string[]> {
  let dump: unknown;
  try {
    const res = await fetch(`${admin}/config_dump`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return [];
    dump = await res.json();
  } catch {
    return [];
  }
  const maxBody = maxBodyBytesOf(pluginConfig);
  const problems: string[] = [];
  for (const l of listenersWithFilter(listenersFromConfigDump(dump))) {
    const p = bodyLimitProblem(l.name, l.bufferLimit, maxBody);
    if (p) problems.push(p);
  }
  return problems;
}
