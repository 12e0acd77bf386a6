// Tabular attributions: signed bars sorted by magnitude, with each column's value and name.

import { cssColor } from "../colormap";
import type { DisplayOptions } from "../types";
import { element, formatNumber, type AttributionView } from "./view";

/** ``values`` null: no value column (e.g. neurons, whose only value is the attribution). */
export function tabularView(names: string[], values: ArrayLike<number> | null, scores: Float32Array | null, limit = 12): AttributionView {
  const el = element("div", "iw-tabular");
  const order = Array.from({ length: names.length }, (_, i) => i);
  if (scores) order.sort((a, b) => Math.abs(scores[b]) - Math.abs(scores[a]));
  const shown = order.slice(0, limit);
  const bars: { bar: HTMLElement; index: number }[] = [];
  for (const i of shown) {
    const row = element("div", "iw-row");
    row.append(element("span", "iw-row-name", names[i]), element("span", "iw-row-value", values ? formatNumber(values[i]) : ""));
    const track = element("span", "iw-track");
    const bar = element("span", "iw-bar");
    track.append(bar);
    row.append(track, element("span", "iw-row-score", scores ? formatNumber(scores[i]) : ""));
    el.append(row);
    bars.push({ bar, index: i });
  }
  if (order.length > limit) el.append(element("div", "iw-more", `${order.length - limit} smaller columns not shown`));
  if (scores) el.dataset.testid = "iw-attribution";
  return {
    el,
    values: scores,
    redraw(options: DisplayOptions, scale: number) {
      if (!scores) return;
      for (const { bar, index } of bars) {
        const v = scores[index];
        const kept = options.sign === "positive" ? Math.max(v, 0) : options.sign === "negative" ? Math.min(v, 0) : v;
        const magnitude = scale > 0 ? Math.min(1, Math.abs(kept) / scale) : 0;
        // bars grow from the centre: right for positive, left for negative
        const positive = options.sign === "absolute" || kept >= 0;
        bar.style.width = `${50 * magnitude}%`;
        bar.style.left = positive ? "50%" : `${50 - 50 * magnitude}%`;
        bar.style.background = cssColor(options.sign === "absolute" ? Math.abs(v) : kept, options, scale);
        bar.title = `${names[index]}: ${formatNumber(v)}`;
      }
    },
  };
}
