import { describe, expect, it } from "vitest";
import { COLORMAPS, cssColor, lut, lutIndex, signed } from "../src/colormap";
import { pooledScale, robustScale, scalesFor } from "../src/normalize";
import type { DisplayOptions } from "../src/types";
import cases from "./scale_cases.json";

/** A case's values: runs of ``[value, count]`` or an inclusive integer range. */
function caseValues(spec: { repeat?: number[][]; range?: number[] }): Float32Array {
  if (spec.range) return Float32Array.from({ length: spec.range[1] - spec.range[0] + 1 }, (_, i) => spec.range![0] + i);
  return Float32Array.from((spec.repeat ?? []).flatMap(([value, count]) => Array<number>(count).fill(value)));
}

describe("colour mapping", () => {
  it("builds 256-entry tables that start and end at the map's end colours", () => {
    for (const name of COLORMAPS) expect(lut(name).length).toBe(768);
    const redBlue = lut("red-blue");
    expect(Array.from(redBlue.slice(0, 3))).toEqual([178, 24, 43]);
    expect(Array.from(redBlue.slice(765))).toEqual([33, 102, 172]);
  });

  it("filters by sign: positive keeps one side, negative the other, absolute folds", () => {
    expect(signed(-0.5, "all", 1)).toBe(-0.5);
    expect(signed(-0.5, "positive", 1)).toBe(0);
    expect(signed(-0.5, "negative", 1)).toBe(0.5);
    expect(signed(-0.5, "absolute", 1)).toBe(0.5);
    expect(signed(3, "all", 1)).toBe(1); // clipped at full colour
    expect(signed(3, "all", 0)).toBe(0); // an all-zero map stays neutral
  });

  it("maps zero to the middle of a diverging map and negative values to its red half", () => {
    expect(lutIndex(0, "all", "red-blue")).toBe(128);
    expect(lutIndex(1, "negative", "red-blue")).toBe(0);
    expect(lutIndex(1, "positive", "red-blue")).toBe(255);
    expect(lutIndex(1, "absolute", "viridis")).toBe(255);
    expect(cssColor(-1, { sign: "all", colormap: "red-blue" }, 1)).toBe("rgb(178, 24, 43)");
  });

  it("scales by Captum's cumulative-mass rule: the values that hold the top 2 % of the mass saturate", () => {
    for (const example of cases.cases) {
      const values = caseValues(example.values);
      for (const [sign, expected] of Object.entries(example.expected)) {
        expect(robustScale(values, sign as DisplayOptions["sign"]), `${example.name}, ${sign}`).toBe(expected);
      }
    }
    expect(robustScale(new Float32Array([-4, 1, 2]), "negative")).toBe(4);
  });

  it("pools the maps of a group for the shared scale, as attribution_scale(*attrs) does", () => {
    // alone, each map's scale is 1; pooled, the 100 holds half the mass and sets the scale
    const ones = new Float32Array(99).fill(1);
    const outlier = new Float32Array([100]);
    expect(scalesFor([ones, outlier], { sign: "all", normalize: "example", absoluteScale: 1 })).toEqual([1, 100]);
    expect(scalesFor([ones, outlier], { sign: "all", normalize: "shared", absoluteScale: 1 })).toEqual([100, 100]);
    expect(pooledScale([ones, outlier], "all")).toBe(robustScale(Float32Array.from([...ones, ...outlier]), "all"));
  });

  it("normalises per example, shared across maps, or with a fixed absolute scale", () => {
    const maps = [new Float32Array([1, -1]), new Float32Array([4, 2])];
    expect(scalesFor(maps, { sign: "all", normalize: "example", absoluteScale: 9 })).toEqual([1, 4]);
    expect(scalesFor(maps, { sign: "all", normalize: "shared", absoluteScale: 9 })).toEqual([4, 4]);
    expect(scalesFor(maps, { sign: "all", normalize: "absolute", absoluteScale: 9 })).toEqual([9, 9]);
  });
});
