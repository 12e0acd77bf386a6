// Image attributions: original, heat map, blended overlay, masked and alpha-scaled views,
// painted into RGBA buffers from the raw map (re-colouring never asks the kernel).

import { lut, lutIndex, signed } from "../colormap";
import type { DisplayOptions } from "../types";
import { makeZoomable, type ZoomSource } from "../zoom";
import { element, type AttributionView } from "./view";

export interface Picture {
  width: number;
  height: number;
  channels: number; // 1 (greyscale) or 3 (RGB)
  pixels: Uint8Array; // height x width x channels
}

/** Bilinear resampling of a (mh, mw) map to (h, w); returns the input when sizes match. */
export function resample(map: Float32Array, mh: number, mw: number, h: number, w: number): Float32Array {
  if (mh === h && mw === w) return map;
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(mh - 1, Math.max(0, ((y + 0.5) * mh) / h - 0.5));
    const y0 = Math.floor(sy), y1 = Math.min(mh - 1, y0 + 1), fy = sy - y0;
    for (let x = 0; x < w; x++) {
      const sx = Math.min(mw - 1, Math.max(0, ((x + 0.5) * mw) / w - 0.5));
      const x0 = Math.floor(sx), x1 = Math.min(mw - 1, x0 + 1), fx = sx - x0;
      const top = map[y0 * mw + x0] * (1 - fx) + map[y0 * mw + x1] * fx;
      const bottom = map[y1 * mw + x0] * (1 - fx) + map[y1 * mw + x1] * fx;
      out[y * w + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

const LEVELS = 1024;

/**
 * Colour and magnitude of every quantised value: the sign filter, colour map and scale are
 * applied to LEVELS representative values once, so the per-pixel loop is a table lookup.
 */
function levelTables(options: DisplayOptions): { rgb: Uint8Array; magnitude: Float32Array } {
  const table = lut(options.colormap);
  const rgb = new Uint8Array(LEVELS * 3);
  const magnitude = new Float32Array(LEVELS);
  for (let q = 0; q < LEVELS; q++) {
    const value = (2 * q) / (LEVELS - 1) - 1; // in [-1, 1], scale already divided out
    const filtered = signed(value, options.sign, 1);
    const k = 3 * lutIndex(filtered, options.sign, options.colormap);
    rgb[3 * q] = table[k];
    rgb[3 * q + 1] = table[k + 1];
    rgb[3 * q + 2] = table[k + 2];
    magnitude[q] = Math.abs(filtered);
  }
  return { rgb, magnitude };
}

/**
 * Paint ``map`` (h*w values, the picture's size) into ``out`` (RGBA, h*w*4) in the overlay
 * mode of ``options``: "heatmap" (colour only), "blend" (colour over the greyscale picture with
 * ``opacity``), "masked" (picture times |value|), "alpha" (picture with alpha = |value|),
 * "original" (picture only). Values are quantised to 1024 levels over [-scale, scale].
 */
export function paint(
  out: Uint8ClampedArray,
  picture: Picture | null,
  map: Float32Array,
  options: DisplayOptions,
  scale: number,
): void {
  const { rgb, magnitude } = levelTables(options);
  const n = map.length;
  const px = picture?.pixels;
  const c = picture?.channels ?? 1;
  const g1 = c === 3 ? 1 : 0;
  const g2 = c === 3 ? 2 : 0;
  const inverse = scale > 0 ? 1 / scale : 0;
  const half = (LEVELS - 1) / 2;
  const overlay = px ? options.overlay : "heatmap";
  const opacity = options.opacity;
  for (let i = 0, o = 0; i < n; i++, o += 4) {
    let v = map[i] * inverse;
    v = v > 1 ? 1 : v < -1 ? -1 : v;
    const q = ((v + 1) * half + 0.5) | 0;
    if (overlay === "heatmap") {
      out[o] = rgb[3 * q]; out[o + 1] = rgb[3 * q + 1]; out[o + 2] = rgb[3 * q + 2]; out[o + 3] = 255;
      continue;
    }
    const p = c * i;
    const r = px![p], g = px![p + g1], b = px![p + g2];
    if (overlay === "blend") {
      const grey = (0.299 * r + 0.587 * g + 0.114 * b) * (1 - opacity);
      out[o] = grey + rgb[3 * q] * opacity;
      out[o + 1] = grey + rgb[3 * q + 1] * opacity;
      out[o + 2] = grey + rgb[3 * q + 2] * opacity;
      out[o + 3] = 255;
    } else if (overlay === "masked") {
      const m = magnitude[q];
      out[o] = r * m; out[o + 1] = g * m; out[o + 2] = b * m; out[o + 3] = 255;
    } else if (overlay === "alpha") {
      out[o] = r; out[o + 1] = g; out[o + 2] = b; out[o + 3] = 255 * magnitude[q];
    } else {
      out[o] = r; out[o + 1] = g; out[o + 2] = b; out[o + 3] = 255;
    }
  }
}

function pictureToRGBA(picture: Picture): Uint8ClampedArray {
  const out = new Uint8ClampedArray(picture.width * picture.height * 4);
  const { pixels, channels } = picture;
  for (let i = 0; i < picture.width * picture.height; i++) {
    const r = pixels[channels * i];
    out[4 * i] = r;
    out[4 * i + 1] = channels === 3 ? pixels[channels * i + 1] : r;
    out[4 * i + 2] = channels === 3 ? pixels[channels * i + 2] : r;
    out[4 * i + 3] = 255;
  }
  return out;
}

function canvasFor(width: number, height: number, testid: string, caption: string): { figure: HTMLElement; canvas: HTMLCanvasElement } {
  const figure = element("figure", "iw-figure");
  const canvas = element("canvas", "iw-canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", caption);
  if (testid) canvas.dataset.testid = testid;
  figure.append(canvas, element("figcaption", "", caption));
  return { figure, canvas };
}

function put(canvas: HTMLCanvasElement, rgba: Uint8ClampedArray): void {
  const context = canvas.getContext("2d");
  if (!context) return; // no 2D canvas (e.g. a headless DOM): the layout still works
  context.putImageData(new ImageData(rgba as Uint8ClampedArray<ArrayBuffer>, canvas.width, canvas.height), 0, 0);
}

/**
 * The image view: the original picture and the attribution canvas (``iw-attribution``)
 * drawn in the chosen overlay mode. ``map`` may have another size than the picture (layer
 * methods): it is resampled once, bilinearly, to the picture's size.
 */
export function imageView(picture: Picture | null, map: Float32Array | null, mapShape: number[] | null, caption = "Attribution"): AttributionView {
  const el = element("div", "iw-image");
  const width = picture?.width ?? mapShape?.[1] ?? 1;
  const height = picture?.height ?? mapShape?.[0] ?? 1;
  // the zoom paints at the picture's own pixel size, so the map stays aligned with it
  const zoom: ZoomSource = { width, height, title: "", drawOriginal: null, drawMap: null, mapCaption: caption };
  if (picture) {
    const { figure, canvas } = canvasFor(width, height, "iw-original", "Original");
    figure.classList.add("iw-original");
    const rgba = pictureToRGBA(picture);
    put(canvas, rgba);
    zoom.drawOriginal = (target) => put(target, rgba);
    makeZoomable(figure, zoom, "original image");
    el.append(figure);
  }
  if (!map || !mapShape) {
    return { el, values: null, redraw: () => undefined, zoom };
  }
  const values = resample(map, mapShape[0], mapShape[1], height, width);
  const { figure, canvas } = canvasFor(width, height, "iw-attribution", caption);
  el.append(figure);
  const rgba = new Uint8ClampedArray(width * height * 4);
  let drawn = false;
  zoom.drawMap = (target) => {
    if (drawn) put(target, rgba);
  };
  makeZoomable(figure, zoom, `${caption.toLowerCase()} map`);
  return {
    el,
    values: map,
    zoom,
    redraw(options, scale) {
      paint(rgba, picture, values, options, scale);
      put(canvas, rgba);
      drawn = true;
    },
  };
}
