// Scales that map attribution values to colours: per example, shared across what is shown,
// or a fixed absolute value the user types (comparable across examples and sessions).
//
// The per-map scale is Captum's rule, the same as the static plots' (attr/visualization.py):
// the smallest magnitude v such that the magnitudes up to v hold (100 - OUTLIER_PERCENT) % of
// their total, so the few largest values that hold the last 2 % of the mass saturate. Both
// sides are checked against one table of cases (js/tests/scale_cases.json).

import type { DisplayOptions } from "./types";

/** Captum's default ``outlier_perc``: the top 2 % of the attribution mass saturates. */
export const OUTLIER_PERCENT = 2;

/**
 * The cumulative-mass threshold of the magnitudes that the sign filter keeps (positive values
 * for "positive", negative ones for "negative", all for the others); 0 when none is kept.
 */
export function robustScale(values: ArrayLike<number>, sign: DisplayOptions["sign"]): number {
  return pooledScale([values], sign);
}

/** The same threshold over several maps pooled together (``attribution_scale(*attrs)``). */
export function pooledScale(maps: ArrayLike<number>[], sign: DisplayOptions["sign"]): number {
  let size = 0;
  for (const values of maps) size += values.length;
  // the maps hold float32 values, so float32 magnitudes are exact (and sort fastest)
  const all = new Float32Array(size);
  let count = 0;
  for (const values of maps) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (sign === "positive" ? v > 0 : sign === "negative" ? v < 0 : v !== 0) all[count++] = v < 0 ? -v : v;
    }
  }
  if (!count) return 0;
  const magnitudes = all.subarray(0, count).sort();
  let total = 0; // float64, summed in ascending order like the cumulative sum below
  for (let i = 0; i < count; i++) total += magnitudes[i];
  const wanted = total * 0.01 * (100 - OUTLIER_PERCENT);
  let sum = 0;
  for (let i = 0; i < count; i++) {
    sum += magnitudes[i];
    if (sum >= wanted) return magnitudes[i];
  }
  return magnitudes[count - 1];
}

/** Per-map scales: own scale ("example"), one scale pooled over the group ("shared", as the
 * static plots' ``attribution_scale``), or fixed ("absolute"). */
export function scalesFor(
  maps: ArrayLike<number>[],
  options: Pick<DisplayOptions, "sign" | "normalize" | "absoluteScale">,
): number[] {
  if (options.normalize === "absolute") return maps.map(() => options.absoluteScale);
  if (options.normalize === "shared") {
    const shared = pooledScale(maps, options.sign);
    return maps.map(() => shared);
  }
  return maps.map((m) => robustScale(m, options.sign));
}
