// Time series / audio: one line per channel over a strip coloured by attribution.

import { lut, lutIndex, signed } from "../colormap";
import type { DisplayOptions } from "../types";
import { element, type AttributionView } from "./view";

const WIDTH = 480;
const HEIGHT = 96;

export function timeseriesView(signal: Float32Array, shape: number[], scores: Float32Array | null, sampleRate?: number): AttributionView {
  const el = element("div", "iw-timeseries");
  const canvas = element("canvas", "iw-canvas-wide");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  if (scores) canvas.dataset.testid = "iw-attribution";
  const channels = shape[0] ?? 1;
  const steps = shape[1] ?? signal.length;
  el.append(canvas);
  if (sampleRate) el.append(element("div", "iw-axis", `${(steps / sampleRate).toFixed(2)} s at ${sampleRate} Hz`));
  let low = Infinity, high = -Infinity;
  for (const v of signal) { low = Math.min(low, v); high = Math.max(high, v); }
  const span = high > low ? high - low : 1;
  const draw = (options: DisplayOptions | null, scale: number) => {
    const context = canvas.getContext("2d");
    if (!context) return;
    context.clearRect(0, 0, WIDTH, HEIGHT);
    if (scores && options) {
      const table = lut(options.colormap);
      const perChannel = scores.length / channels;
      for (let x = 0; x < WIDTH; x++) {
        const t = Math.min(perChannel - 1, Math.floor((x / WIDTH) * perChannel));
        let sum = 0;
        for (let c = 0; c < channels; c++) sum += scores[c * perChannel + t];
        const k = 3 * lutIndex(signed(sum, options.sign, scale), options.sign, options.colormap);
        context.fillStyle = `rgb(${table[k]},${table[k + 1]},${table[k + 2]})`;
        context.fillRect(x, 0, 1, HEIGHT);
      }
    }
    context.lineWidth = 1;
    for (let c = 0; c < channels; c++) {
      context.strokeStyle = c === 0 ? "#222" : `hsl(${(c * 67) % 360}, 60%, 30%)`;
      context.beginPath();
      for (let x = 0; x < WIDTH; x++) {
        const t = Math.min(steps - 1, Math.floor((x / WIDTH) * steps));
        const y = HEIGHT - 4 - ((signal[c * steps + t] - low) / span) * (HEIGHT - 8);
        if (x === 0) context.moveTo(x, y); else context.lineTo(x, y);
      }
      context.stroke();
    }
  };
  draw(null, 0);
  return { el, values: scores, redraw: (options, scale) => draw(options, scale) };
}
