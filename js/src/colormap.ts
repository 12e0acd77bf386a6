// Colour maps as 256-entry RGB lookup tables, and the mapping of signed attributions to them.

import type { DisplayOptions } from "./types";

type Stop = [number, number, number, number]; // position in [0, 1], r, g, b

const STOPS: Record<string, Stop[]> = {
  // the default, diverging and colour-blind safe: orange for negative, near-white at zero, blue
  // for positive. Blue and orange stay apart under protanopia, deuteranopia and tritanopia, and
  // lightness falls from the centre to both ends, so |value| reads even in greyscale
  // (tests/colormap.test.ts simulates the three deficiencies).
  "blue-orange": [[0, 150, 70, 0], [0.25, 240, 160, 70], [0.5, 247, 247, 247], [0.75, 120, 170, 215], [1, 20, 75, 150]],
  // diverging: red for negative, white at zero, blue for positive (Insights' colours)
  "red-blue": [[0, 178, 24, 43], [0.25, 239, 138, 98], [0.5, 247, 247, 247], [0.75, 103, 169, 207], [1, 33, 102, 172]],
  "purple-green": [[0, 118, 42, 131], [0.25, 194, 165, 207], [0.5, 247, 247, 247], [0.75, 166, 219, 160], [1, 27, 120, 55]],
  viridis: [[0, 68, 1, 84], [0.25, 59, 82, 139], [0.5, 33, 145, 140], [0.75, 94, 201, 98], [1, 253, 231, 37]],
  magma: [[0, 0, 0, 4], [0.25, 81, 18, 124], [0.5, 183, 55, 121], [0.75, 252, 137, 97], [1, 252, 253, 191]],
  greys: [[0, 0, 0, 0], [1, 255, 255, 255]],
};

export const COLORMAPS = Object.keys(STOPS);
const DIVERGING = new Set(["blue-orange", "red-blue", "purple-green"]);

const tables = new Map<string, Uint8Array>();

/** The 256 x RGB table of ``name`` (piecewise-linear between its stops). */
export function lut(name: string): Uint8Array {
  let table = tables.get(name);
  if (table) return table;
  const stops = STOPS[name];
  if (!stops) throw new Error(`unknown colour map ${name}`);
  table = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let k = 0;
    while (k < stops.length - 2 && t > stops[k + 1][0]) k++;
    const [t0, r0, g0, b0] = stops[k];
    const [t1, r1, g1, b1] = stops[k + 1];
    const f = t1 > t0 ? Math.min(1, Math.max(0, (t - t0) / (t1 - t0))) : 0;
    table[3 * i] = Math.round(r0 + f * (r1 - r0));
    table[3 * i + 1] = Math.round(g0 + f * (g1 - g0));
    table[3 * i + 2] = Math.round(b0 + f * (b1 - b0));
  }
  tables.set(name, table);
  return table;
}

/**
 * Value after the sign filter, in [-1, 1] for "all", [0, 1] otherwise (given the scale).
 * "positive"/"negative" keep one side, "absolute" folds both sides together.
 */
export function signed(value: number, sign: DisplayOptions["sign"], scale: number): number {
  const v = scale > 0 ? value / scale : 0;
  let out: number;
  switch (sign) {
    case "all": out = v; break;
    case "positive": out = v > 0 ? v : 0; break;
    case "negative": out = v < 0 ? -v : 0; break;
    default: out = Math.abs(v);
  }
  return out > 1 ? 1 : out < -1 ? -1 : out;
}

/**
 * Position in the colour table (0..255) of a filtered value: signed values span the whole
 * table; one-sided values span the upper half of a diverging map (the lower half for
 * "negative", so negative keeps its colour) or the whole of a sequential one.
 */
export function lutIndex(filtered: number, sign: DisplayOptions["sign"], map: string): number {
  let t: number;
  if (sign === "all") t = (filtered + 1) / 2;
  else if (DIVERGING.has(map)) t = sign === "negative" ? 0.5 - filtered / 2 : 0.5 + filtered / 2;
  else t = filtered;
  return Math.round(t * 255);
}

/** RGB of one value under the display options. */
export function rgbOf(value: number, options: Pick<DisplayOptions, "sign" | "colormap">, scale: number): [number, number, number] {
  const table = lut(options.colormap);
  const i = lutIndex(signed(value, options.sign, scale), options.sign, options.colormap);
  return [table[3 * i], table[3 * i + 1], table[3 * i + 2]];
}

/** CSS colour of one value (text tokens, bars). */
export function cssColor(value: number, options: Pick<DisplayOptions, "sign" | "colormap">, scale: number): string {
  const [r, g, b] = rgbOf(value, options, scale);
  return `rgb(${r}, ${g}, ${b})`;
}

/** Whether the colour of zero is light (to pick readable text colour). */
export function isLight(r: number, g: number, b: number): boolean {
  return 0.299 * r + 0.587 * g + 0.114 * b > 150;
}
