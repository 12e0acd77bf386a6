import { describe, expect, it } from "vitest";
import { COLORMAPS, cssColor, lut, lutIndex, signed } from "../src/colormap";
import { robustScale, scalesFor } from "../src/normalize";

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

  it("scales by the 98th percentile of magnitudes so one outlier does not wash out the map", () => {
    const values = new Float32Array(100).map((_, i) => (i === 99 ? 1000 : 1));
    expect(robustScale(values, "all")).toBe(1);
    expect(robustScale(new Float32Array([-4, 1, 2]), "negative")).toBe(4);
    expect(robustScale(new Float32Array([0, 0]), "all")).toBe(0);
  });

  it("normalises per example, shared across maps, or with a fixed absolute scale", () => {
    const maps = [new Float32Array([1, -1]), new Float32Array([4, 2])];
    expect(scalesFor(maps, { sign: "all", normalize: "example", absoluteScale: 9 })).toEqual([1, 4]);
    expect(scalesFor(maps, { sign: "all", normalize: "shared", absoluteScale: 9 })).toEqual([4, 4]);
    expect(scalesFor(maps, { sign: "all", normalize: "absolute", absoluteScale: 9 })).toEqual([9, 9]);
  });
});
