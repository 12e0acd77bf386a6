import { describe, expect, it } from "vitest";
import { DEFAULT_DISPLAY } from "../src/app";
import { lut } from "../src/colormap";
import type { DisplayOptions } from "../src/types";
import { imageView, paint, resample } from "../src/views/image";
import { tabularView } from "../src/views/tabular";
import { textView } from "../src/views/text";
import { timeseriesView } from "../src/views/timeseries";
import { canvasPixels } from "./fake";

const heat: DisplayOptions = { ...DEFAULT_DISPLAY, overlay: "heatmap", colormap: "red-blue" };
const picture = { width: 2, height: 1, channels: 1, pixels: new Uint8Array([200, 100]) };

describe("image view", () => {
  it("draws the original and a heat map whose colours follow sign and colour map", () => {
    const view = imageView(picture, new Float32Array([-1, 1]), [1, 2]);
    const attribution = view.el.querySelector<HTMLCanvasElement>('[data-testid="iw-attribution"]')!;
    expect(canvasPixels(view.el.querySelector<HTMLCanvasElement>('[data-testid="iw-original"]')!)).toEqual([200, 200, 200, 255, 100, 100, 100, 255]);
    view.redraw(heat, 1);
    expect(canvasPixels(attribution)).toEqual([178, 24, 43, 255, 33, 102, 172, 255]);
    view.redraw({ ...heat, sign: "positive" }, 1);
    const zero = Array.from(lut("red-blue").slice(3 * 128, 3 * 128 + 3));
    expect(canvasPixels(attribution).slice(0, 3)).toEqual(zero); // negative hidden: neutral
    view.redraw({ ...heat, colormap: "greys", sign: "absolute" }, 1);
    expect(canvasPixels(attribution)).toEqual([255, 255, 255, 255, 255, 255, 255, 255]);
  });

  it("blends, masks and alpha-scales the picture by the attribution", () => {
    const out = new Uint8ClampedArray(8);
    const map = new Float32Array([0, 1]);
    paint(out, picture, map, { ...heat, overlay: "masked" }, 1);
    expect(Array.from(out)).toEqual([0, 0, 0, 255, 100, 100, 100, 255]);
    paint(out, picture, map, { ...heat, overlay: "alpha" }, 1);
    expect([out[3], out[7]]).toEqual([0, 255]);
    paint(out, picture, map, { ...heat, overlay: "blend", opacity: 0 }, 1);
    expect(Array.from(out)).toEqual([200, 200, 200, 255, 100, 100, 100, 255]);
    paint(out, picture, map, { ...heat, overlay: "original" }, 1);
    expect(out[4]).toBe(100);
  });

  it("resamples a coarse layer map to the picture size", () => {
    expect(Array.from(resample(new Float32Array([0, 1]), 1, 2, 1, 4))).toEqual([0, 0.25, 0.75, 1]);
  });

  it("shows RGB pictures in colour", () => {
    const rgb = { width: 1, height: 1, channels: 3, pixels: new Uint8Array([10, 20, 30]) };
    const view = imageView(rgb, null, null);
    expect(canvasPixels(view.el.querySelector("canvas")!)).toEqual([10, 20, 30, 255]);
    expect(view.values).toBeNull();
  });

  it("re-colours a 224x224 map in well under 50 ms", () => {
    const size = 224;
    const pixels = new Uint8Array(size * size * 3).map((_, i) => i % 251);
    const map = new Float32Array(size * size).map((_, i) => Math.sin(i));
    const view = imageView({ width: size, height: size, channels: 3, pixels }, map, [size, size]);
    document.body.append(view.el);
    view.redraw(DEFAULT_DISPLAY, 1); // warm-up (JIT)
    const times: number[] = [];
    for (const sign of ["all", "positive", "negative", "absolute"] as const) {
      const started = performance.now();
      view.redraw({ ...DEFAULT_DISPLAY, sign, colormap: "viridis" }, 1);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    console.info(`recolour 224x224: median ${times[2].toFixed(2)} ms`);
    expect(times[2]).toBeLessThan(50);
    view.el.remove();
  });
});

describe("text view", () => {
  it("colours tokens, puts values in tooltips and never interprets markup", () => {
    const view = textView(["<img src=x onerror=alert(1)>", "good"], new Float32Array([-0.5, 2]));
    document.body.append(view.el);
    view.redraw({ ...DEFAULT_DISPLAY, colormap: "red-blue" }, 2);
    const tokens = view.el.querySelectorAll<HTMLSpanElement>(".iw-token");
    expect(view.el.querySelector("img")).toBeNull();
    expect(tokens[0].textContent).toBe("<img src=x onerror=alert(1)>");
    expect(tokens[1].title).toBe("good: 2.000");
    expect(tokens[1].style.background).toBe("rgb(33, 102, 172)");
    view.el.remove();
  });
});

describe("tabular view", () => {
  it("sorts columns by magnitude and draws signed bars from the centre", () => {
    const view = tabularView(["age", "income", "height"], [30, 1000, 180], new Float32Array([0.1, -2, 1]));
    view.redraw({ ...DEFAULT_DISPLAY, colormap: "red-blue" }, 2);
    const names = Array.from(view.el.querySelectorAll(".iw-row-name")).map((n) => n.textContent);
    expect(names).toEqual(["income", "height", "age"]);
    const bars = view.el.querySelectorAll<HTMLElement>(".iw-bar");
    expect(bars[0].style.width).toBe("50%");
    expect(bars[0].style.left).toBe("0%"); // negative grows left
    expect(bars[1].style.left).toBe("50%");
    expect(view.el.querySelector(".iw-row-value")!.textContent).toBe("1000.000");
  });
});

describe("time series view", () => {
  it("paints the attribution strip under the signal", () => {
    const view = timeseriesView(new Float32Array([0, 1, 0, -1]), [1, 4], new Float32Array([1, 1, -1, -1]), 4);
    view.redraw(heat, 1);
    const canvas = view.el.querySelector("canvas")!;
    const pixels = canvasPixels(canvas);
    const left = pixels.slice(4 * (canvas.width * 2 + 10), 4 * (canvas.width * 2 + 10) + 3);
    const right = pixels.slice(4 * (canvas.width * 2 + 400), 4 * (canvas.width * 2 + 400) + 3);
    expect(left).toEqual([33, 102, 172]);
    expect(right).toEqual([178, 24, 43]);
    expect(view.el.textContent).toContain("1.00 s at 4 Hz");
  });
});
