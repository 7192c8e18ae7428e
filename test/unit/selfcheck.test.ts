import { describe, expect, it } from "vitest";
import { loadUnits } from "../support";

describe("units loader", () => {
  it("round-trips bytes through the request unit module", async () => {
    const u = await loadUnits("request");
    expect(Array.from(u.selfCheck(new Uint8Array([1, 2, 3])))).toEqual([1, 2, 3]);
  });
});
