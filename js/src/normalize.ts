// Scales that map attribution values to colours: per example, shared across what is shown,
// or a fixed absolute value the user types (comparable across examples and sessions).

import type { DisplayOptions } from "./types";

/** Captum's default: clip the top 2 % of magnitudes so one outlier does not wash out a map. */
export const OUTLIER_PERCENT = 2;

/**
 * The (100 - OUTLIER_PERCENT)th percentile of the magnitudes that the sign filter keeps
 * (positive values for "positive", negative ones for "negative", all for the others).
 */
export function robustScale(values: ArrayLike<number>, sign: DisplayOptions["sign"]): number {
  const kept: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (sign === "positive" ? v > 0 : sign === "negative" ? v < 0 : v !== 0) kept.push(Math.abs(v));
  }
  if (!kept.length) return 0;
  const magnitudes = Float32Array.from(kept).sort();
  const rank = Math.min(magnitudes.length - 1, Math.floor(((100 - OUTLIER_PERCENT) / 100) * magnitudes.length));
  return magnitudes[rank] || magnitudes[magnitudes.length - 1];
}

/** Per-map scales: own scale ("example"), the largest of a group ("shared"), or fixed. */
export function scalesFor(
  maps: ArrayLike<number>[],
  options: Pick<DisplayOptions, "sign" | "normalize" | "absoluteScale">,
): number[] {
  if (options.normalize === "absolute") return maps.map(() => options.absoluteScale);
  const own = maps.map((m) => robustScale(m, options.sign));
  if (options.normalize === "shared") {
    const shared = Math.max(0, ...own);
    return own.map(() => shared);
  }
  return own;
}
