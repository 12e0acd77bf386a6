// The quality panel of one example's map: deletion and insertion AUC with their curves drawn
// on a small canvas from the float32 buffers, infidelity and max-sensitivity, the request's
// state (running with Cancel, cancelled, error) and each part's error next to it.

import { QUALITY_PARTS, type QualityPartName, type QualityState } from "../quality";
import { decodeCached } from "../wire";
import { element, formatNumber } from "./view";

const NAMES: Record<QualityPartName, { label: string; better: string; help: string }> = {
  deletion: { label: "deletion AUC", better: "lower is better", help: "score while the most relevant features are removed first (RISE)" },
  insertion: { label: "insertion AUC", better: "higher is better", help: "score while the most relevant features are inserted first into a blurred copy (RISE)" },
  infidelity: { label: "infidelity", better: "lower is better", help: "expected squared error of the map's linear prediction of output changes under Gaussian noise (normalised)" },
  sensitivity: { label: "max-sensitivity", better: "lower is better", help: "largest relative change of the map under perturbations of radius 0.02" },
};
/** curve colours: the default map's blue and orange (colour-blind safe); insertion dashed */
const CURVES: Record<"deletion" | "insertion", { color: string; dash: number[] }> = {
  deletion: { color: "#b45a08", dash: [] },
  insertion: { color: "#1f5fa0", dash: [4, 3] },
};
export const PLOT_WIDTH = 180;
export const PLOT_HEIGHT = 80;

/** The curve's score values (n + 1 of them, at fractions k / n). */
export function curveValues(state: QualityState, part: "deletion" | "insertion"): Float32Array | null {
  const curve = state.parts[part]?.curve;
  return curve ? (decodeCached(curve).values as Float32Array) : null;
}

/** Canvas points of ``values`` in a ``width`` x ``height`` box with y in [low, high]. */
export function curvePoints(values: Float32Array, width: number, height: number, low: number, high: number): [number, number][] {
  const span = high > low ? high - low : 1;
  const steps = Math.max(1, values.length - 1);
  return Array.from(values, (v, k) => [(k / steps) * (width - 1), (height - 1) * (1 - (v - low) / span)]);
}

/** The curves streamed so far on a small canvas, and a line saying what its axes span. */
function plot(state: QualityState): HTMLElement[] {
  const curves = (["deletion", "insertion"] as const).map((part) => [part, curveValues(state, part)] as const).filter(([, v]) => v);
  if (!curves.length) return [];
  const canvas = element("canvas", "iw-quality-plot");
  canvas.width = PLOT_WIDTH;
  canvas.height = PLOT_HEIGHT;
  canvas.dataset.testid = "iw-quality-plot";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `${curves.map(([p]) => p).join(" and ")} curve: model score against the fraction of features moved`);
  const all = curves.flatMap(([, v]) => Array.from(v!));
  const low = Math.min(0, ...all);
  const high = Math.max(...all);
  const axes = element("div", "iw-note iw-quality-axes", `score ${formatNumber(low)} to ${formatNumber(high)} against the fraction of features moved (0 to 1); insertion dashed`);
  const context = canvas.getContext("2d");
  if (!context) return [canvas, axes];
  for (const [part, values] of curves) {
    context.strokeStyle = CURVES[part].color;
    context.setLineDash(CURVES[part].dash);
    context.lineWidth = 2;
    context.beginPath();
    curvePoints(values!, PLOT_WIDTH, PLOT_HEIGHT, low, high).forEach(([x, y], k) => (k ? context.lineTo(x, y) : context.moveTo(x, y)));
    context.stroke();
  }
  return [canvas, axes];
}

/** The panel for ``state``; ``onCancel`` stops its request. */
export function qualityPanel(state: QualityState, onCancel: () => void): HTMLElement {
  const panel = element("div", "iw-quality-panel");
  panel.dataset.testid = "iw-quality-panel";
  panel.dataset.state = state.state;
  panel.setAttribute("role", "group");
  panel.setAttribute("aria-label", "quality of this map");
  const table = element("dl", "iw-quality-values");
  for (const part of QUALITY_PARTS) {
    const found = state.parts[part];
    const name = element("dt", "", NAMES[part].label);
    name.title = `${NAMES[part].help}; ${NAMES[part].better}`;
    const value = element("dd", "");
    value.dataset.testid = `iw-quality-${part}`;
    if (found?.error) {
      value.className = "iw-error";
      value.setAttribute("role", "alert");
      value.textContent = found.error;
    } else if (found && found.value != null) {
      value.textContent = formatNumber(found.value);
      value.title = NAMES[part].better;
    } else {
      value.textContent = state.state === "running" ? "…" : "–";
    }
    if (part === "deletion" || part === "insertion") name.style.color = CURVES[part].color;
    table.append(name, value);
  }
  panel.append(table);
  panel.append(...plot(state));
  if (state.state === "running") {
    const cancel = element("button", "iw-button iw-secondary", "Cancel");
    cancel.type = "button";
    cancel.dataset.testid = "iw-quality-cancel";
    cancel.addEventListener("click", onCancel);
    panel.append(cancel);
  } else if (state.state === "error") {
    const error = element("div", "iw-error", state.message);
    error.dataset.testid = "iw-error";
    error.setAttribute("role", "alert");
    panel.append(error);
  } else if (state.state !== "complete") {
    panel.append(element("div", "iw-note", state.message || state.state));
  }
  return panel;
}
