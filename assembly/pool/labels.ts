// An endpoint's labels: from `endpoints[].labels` in the configuration, or
// from the EDS metadata of a `pool.cluster` member (docs/fleet.md "Labels").
//
// One label has a meaning to routing today: `model`, the comma-separated
// model names the endpoint serves (its base model and the LoRA adapters it
// loads). A request whose model one endpoint names goes only to the
// endpoints that name it; an endpoint without the label serves any model.

/** The label that restricts which models an endpoint serves. */
export const MODEL_LABEL = "model";
/** Bounds on what one endpoint may carry (outside input when read from EDS). */
export const MAX_LABELS: i32 = 16;
export const MAX_LABEL_KEY_BYTES: i32 = 64;
export const MAX_LABEL_VALUE_BYTES: i32 = 1024;

export class Labels {
  keys: Array<string> = [];
  values: Array<string> = [];
  /** The `model` label split on commas and trimmed; null without the label. */
  private models: Array<string> | null = null;

  /** Adds one label; false (nothing added) past the bounds or for a repeated key. */
  add(key: string, value: string): bool {
    if (this.keys.length >= MAX_LABELS || key.length == 0) return false;
    if (String.UTF8.byteLength(key) > MAX_LABEL_KEY_BYTES || String.UTF8.byteLength(value) > MAX_LABEL_VALUE_BYTES) return false;
    if (this.keys.includes(key)) return false;
    this.keys.push(key);
    this.values.push(value);
    if (key == MODEL_LABEL) this.models = splitModels(value);
    return true;
  }

  get length(): i32 {
    return this.keys.length;
  }

  /** The value of `key`, or null. */
  get(key: string): string | null {
    const i = this.keys.indexOf(key);
    return i >= 0 ? unchecked(this.values[i]) : null;
  }

  /** The endpoint names its models. */
  get restrictsModels(): bool {
    return this.models != null;
  }

  /** The endpoint serves `model`: it names it, or names no model at all. */
  serves(model: string): bool {
    const m = this.models;
    if (m == null) return true;
    return m.includes(model);
  }

  equals(other: Labels): bool {
    if (other.keys.length != this.keys.length) return false;
    for (let i = 0; i < this.keys.length; i++) {
      const v = other.get(unchecked(this.keys[i]));
      if (v == null || v! != unchecked(this.values[i])) return false;
    }
    return true;
  }
}

/** "a, b,,c" → ["a", "b", "c"]. */
function splitModels(value: string): Array<string> {
  const parts = value.split(",");
  const out = new Array<string>();
  for (let i = 0; i < parts.length; i++) {
    const p = unchecked(parts[i]).trim();
    if (p.length > 0) out.push(p);
  }
  return out;
}
