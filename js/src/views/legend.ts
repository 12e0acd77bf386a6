// Colour-bar legend: the colour map over the value range the current scale covers.

import { lut, lutIndex } from "../colormap";
import type { DisplayOptions } from "../types";
import { element, formatNumber } from "./view";

export function legend(): { el: HTMLElement; redraw(options: DisplayOptions, scale: number): void } {
  const el = element("div", "iw-legend");
  el.dataset.testid = "iw-legend";
  const canvas = element("canvas", "iw-legend-bar");
  canvas.width = 128;
  canvas.height = 1;
  const low = element("span", "iw-legend-low");
  const high = element("span", "iw-legend-high");
  el.append(low, canvas, high);
  return {
    el,
    redraw(options, scale) {
      const table = lut(options.colormap);
      const rgba = new Uint8ClampedArray(128 * 4);
      for (let x = 0; x < 128; x++) {
        const f = x / 127;
        const filtered = options.sign === "all" ? 2 * f - 1 : f;
        const k = 3 * lutIndex(filtered, options.sign, options.colormap);
        rgba.set([table[k], table[k + 1], table[k + 2], 255], 4 * x);
      }
      canvas.getContext("2d")?.putImageData(new ImageData(rgba, 128, 1), 0, 0);
      const lowValue = options.sign === "all" ? -scale : options.sign === "negative" ? -0 : 0;
      low.textContent = options.sign === "negative" ? "0" : formatNumber(lowValue);
      high.textContent = options.sign === "negative" ? formatNumber(-scale) : formatNumber(scale);
      el.title = `colour scale: ${options.normalize} normalisation, |value| ${formatNumber(scale)} = full colour`;
    },
  };
}
