// What every attribution view offers the app: its element, its raw values (for shared
// scales) and a redraw that only re-colours.

import type { DisplayOptions } from "../types";
import type { ZoomSource } from "../zoom";

export interface AttributionView {
  el: HTMLElement;
  /** attribution values used for scaling (null when the view shows no attribution) */
  values: Float32Array | null;
  /** re-colour from the raw values with ``scale`` (no kernel, no re-layout) */
  redraw(options: DisplayOptions, scale: number): void;
  /** what the enlarged view draws (image views); its ``title`` is set by the card */
  zoom?: ZoomSource;
}

export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = "",
  text = "",
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (className) el.className = className;
  // textContent, never innerHTML: class names and tokens come from data and are escaped
  if (text) el.textContent = text;
  return el;
}

export function formatNumber(value: number): string {
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  return magnitude >= 1e4 || magnitude < 1e-3 ? value.toExponential(2) : value.toFixed(3);
}
