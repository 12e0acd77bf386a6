// One example card: label, per-model predictions (clickable targets), contribution bars,
// convergence delta, errors, and an attribution view per shown feature.

import { labelCard, labelView, viewTitle } from "./a11y";
import { button, select } from "./controls";
import type { DisplayOptions, Example, ModelResult, Spec, WireTensor } from "./types";
import { imageView, type Picture } from "./views/image";
import { legend } from "./views/legend";
import { storedNote } from "./views/stored";
import { neuronView } from "./views/neurons";
import { tabularView } from "./views/tabular";
import { textView } from "./views/text";
import { timeseriesView } from "./views/timeseries";
import { element, formatNumber, type AttributionView } from "./views/view";
import { decodeCached } from "./wire";

export interface CardContext {
  spec: Spec;
  shown: boolean[];
  targetable: boolean;
  busy: (exampleId: number, model: number) => boolean;
  onTarget: (exampleId: number, model: number, target: number) => void;
  /** ask for the quality panel of a shown map (absent: no button, e.g. a static export) */
  onQuality?: (exampleId: number, model: number, compare: boolean) => void;
  /** recompute a stored map live (a store's examples; views/stored.ts) */
  onLive?: (exampleId: number, model: number, target: number | null) => void;
}

/** A view plus its colour-bar legend; ``group`` names what "shared" normalisation pools. */
export interface PlacedView extends AttributionView {
  group: string;
}

function withLegend(view: AttributionView, group: string): PlacedView {
  if (!view.values) return { ...view, group };
  const box = element("div", "iw-view");
  const key = legend();
  box.append(view.el, key.el);
  return {
    el: box,
    values: view.values,
    group,
    redraw(options: DisplayOptions, scale: number) {
      view.redraw(options, scale);
      key.redraw(options, scale);
    },
  };
}

function picture(input: { original: WireTensor }): Picture {
  const decoded = decodeCached(input.original);
  const [height, width, channels] = decoded.shape;
  return { width, height, channels, pixels: decoded.values as Uint8Array };
}

function floats(wire: WireTensor | null | undefined): Float32Array | null {
  return wire ? (decodeCached(wire).values as Float32Array) : null;
}

function featureViews(example: Example, result: ModelResult | undefined, context: CardContext): PlacedView[] {
  const views: PlacedView[] = [];
  const layer = result?.layer ?? null;
  let layerPlaced = false;
  context.spec.features.forEach((feature, i) => {
    if (!context.shown[i]) return;
    const input = example.inputs[i];
    const wire = result?.attribution?.[i] ?? null;
    const box = element("div", "iw-feature");
    box.append(element("div", "iw-feature-name", feature.name));
    let view: AttributionView | null = null;
    if (input.type === "image") {
      const pic = picture(input);
      if (wire) view = imageView(pic, floats(wire), wire.shape);
      else if (layer && layer.kind === "spatial" && !layerPlaced) {
        layerPlaced = true;
        view = imageView(pic, floats(layer.values), layer.values.shape, `Layer ${layer.name ?? ""}`);
      } else view = imageView(pic, null, null);
    } else if (input.type === "text") {
      let scores = floats(wire);
      if (!scores && layer && layer.kind === "sequence" && !layerPlaced && layer.values.shape[0] === input.tokens.length) {
        layerPlaced = true;
        scores = floats(layer.values);
      }
      view = textView(input.tokens, scores);
    } else if (input.type === "general") {
      view = tabularView(input.names, decodeCached(input.values).values, floats(wire));
    } else if (input.type === "timeseries") {
      const signal = decodeCached(input.signal);
      view = timeseriesView(signal.values as Float32Array, signal.shape, floats(wire), input.sample_rate);
    }
    if (!view) return;
    labelView(view, viewTitle(example, context.spec, feature.name, result));
    const placed = withLegend(view, `feature-${i}`);
    box.append(placed.el);
    views.push({ ...placed, el: box });
  });
  if (layer && !layerPlaced) {
    const box = element("div", "iw-feature");
    box.append(element("div", "iw-feature-name", `Layer ${layer.name ?? ""} (${layer.shape.join("×")})`));
    const neurons = neuronView(floats(layer.values)!, layer.name);
    labelView(neurons, viewTitle(example, context.spec, `layer ${layer.name ?? ""}`, result));
    const placed = withLegend(neurons, "layer");
    box.append(placed.el);
    views.push({ ...placed, el: box });
  }
  return views;
}

function contributionBars(result: ModelResult, context: CardContext): HTMLElement {
  const bars = element("div", "iw-contributions");
  const kept = result.contributions.map((c, i) => (c != null && context.shown[i] ? c : null));
  const total = kept.reduce<number>((sum, c) => sum + (c == null ? 0 : Math.abs(c)), 0);
  if (!total || kept.filter((c) => c != null).length < 1) return bars;
  kept.forEach((c, i) => {
    if (c == null) return;
    const share = c / total;
    const row = element("div", "iw-contribution");
    row.dataset.testid = "iw-contribution";
    const track = element("span", "iw-track");
    const bar = element("span", `iw-bar ${share >= 0 ? "iw-positive" : "iw-negative"}`);
    bar.style.width = `${Math.abs(share) * 100}%`;
    track.append(bar);
    row.append(element("span", "iw-row-name", context.spec.features[i].name), track, element("span", "iw-row-score", `${(share * 100).toFixed(0)}%`));
    row.title = `sum of attributions ${formatNumber(c)}; share over the active, shown modalities`;
    bars.append(row);
  });
  return bars;
}

/** "δ 0.8% · 24 steps" with the refinement state for anytime IG, else the plain delta. */
export function deltaLabel(result: ModelResult): { text: string; state: string } | null {
  if (result.delta == null) return null;
  if (result.steps == null) return { text: `δ ${formatNumber(result.delta)}`, state: "" };
  const relative = result.relative_delta;
  const shown = relative == null ? formatNumber(result.delta) : `${(relative * 100).toFixed(relative < 0.1 ? 1 : 0)}%`;
  const state = result.partial ? "refining…" : result.stopped ? "stopped, not converged" : result.converged ? "converged" : "not converged (budget)";
  return { text: `δ ${shown} · ${result.steps} steps`, state };
}

function resultNotes(result: ModelResult): HTMLElement[] {
  const notes: HTMLElement[] = [];
  const label = deltaLabel(result);
  if (label) {
    const delta = element("span", "iw-delta", label.text);
    delta.dataset.testid = "iw-delta";
    delta.title =
      result.steps == null
        ? "convergence delta: sum of attributions minus the change of the output"
        : "convergence delta relative to |F(x) − F(baseline)|, and the path nodes (gradient evaluations) spent";
    notes.push(delta);
    if (label.state) {
      const state = element("span", `iw-refinement${result.partial ? " iw-refining" : result.converged ? "" : " iw-unconverged"}`, label.state);
      state.dataset.testid = "iw-refinement";
      notes.push(state);
    }
  }
  if (!label && (result.partial || result.stopped)) {
    // a perturbation map filling in chunk by chunk (elements not yet evaluated are zero)
    const state = element("span", `iw-refinement${result.partial ? " iw-refining" : " iw-unconverged"}`, result.partial ? "filling in…" : "stopped, partial map");
    state.dataset.testid = "iw-refinement";
    notes.push(state);
  }
  const speed = result.speed_error;
  if (speed && speed.relative != null) {
    const measured = element("span", "iw-speed-error", `fast settings: error ${(speed.relative * 100).toFixed(1)}%`);
    measured.dataset.testid = "iw-speed-error";
    const times = speed.seconds != null && speed.reference_seconds != null ? `; ${speed.seconds.toFixed(2)} s vs ${speed.reference_seconds.toFixed(2)} s in full precision` : "";
    measured.title = `relative L2 distance of this map from the full-precision one${times}`;
    notes.push(measured);
  }
  if (result.cached) {
    const cached = element("span", "iw-cached", "from cache");
    cached.dataset.testid = "iw-cached";
    cached.title = result.shared_targets ? `computed earlier, together with the top ${result.shared_targets} classes` : "computed earlier with the same settings";
    notes.push(cached);
  } else if (result.shared_targets) {
    notes.push(element("span", "iw-shared", `top ${result.shared_targets} computed together`));
  }
  return notes;
}

/** Where a map's quality panel goes (filled by the app from the QualityStore). */
export interface QualitySlot {
  model: number;
  compare: boolean;
  result: ModelResult;
  el: HTMLElement;
}

export interface Card {
  el: HTMLElement;
  views: PlacedView[];
  /** one row per model, to mark a row busy while its new target is computed */
  rows: HTMLElement[];
  quality: QualitySlot[];
}

/** The "Quality" button of a shown map and the empty slot its panel fills. */
function qualityControl(example: Example, model: number, result: ModelResult, compare: boolean, context: CardContext, slots: QualitySlot[]): HTMLElement[] {
  if (!context.onQuality || result.error || !result.attribution.some(Boolean)) return [];
  const ask = button("Quality", "iw-quality", "iw-button iw-secondary iw-quality-button");
  ask.title = "measure this map: deletion/insertion curves, infidelity, max-sensitivity";
  ask.setAttribute("aria-label", `Measure the quality of the ${result.method} map of example #${example.position}`);
  ask.addEventListener("click", () => context.onQuality!(example.id, model, compare));
  const slot = element("div", "iw-quality");
  slot.dataset.testid = "iw-quality-slot";
  slots.push({ model, compare, result, el: slot });
  return [ask, slot];
}

export function exampleCard(example: Example, context: CardContext): Card {
  const { spec } = context;
  const el = element("section", "iw-card");
  el.dataset.testid = "iw-example";
  el.dataset.exampleId = String(example.id);
  labelCard(el, example, spec);
  const slots: QualitySlot[] = [];
  const header = element("header", "iw-card-header");
  header.append(element("span", "iw-position", `#${example.position}`));
  const views: PlacedView[] = [];
  if (example.label != null) {
    const label = button(`label: ${spec.classes[example.label] ?? example.label}`, "iw-label", "iw-chip iw-label");
    label.title = "attribute to the true label";
    label.disabled = !context.targetable;
    label.addEventListener("click", () => spec.models.forEach((_, m) => context.onTarget(example.id, m, example.label as number)));
    header.append(label);
  } else {
    header.append(element("span", "iw-chip iw-unlabeled", "unlabeled"));
  }
  el.append(header);
  const rows = element("div", "iw-models");
  const rowElements: HTMLElement[] = [];
  spec.models.forEach((name, m) => {
    const result = example.models[m] ?? undefined;
    const row = element("div", "iw-model");
    if (context.busy(example.id, m)) row.classList.add("iw-busy");
    const side = element("div", "iw-model-side");
    if (spec.models.length > 1) side.append(element("div", "iw-model-name", `Model ${m}: ${name}`));
    const predictions = element("div", "iw-predictions");
    for (const p of example.predictions[m] ?? []) {
      const text = p.scalar ? `score ${p.score.toFixed(3)}` : `${spec.classes[p.index] ?? p.index} ${p.score.toFixed(3)}`;
      const chip = button(text, "iw-prediction", "iw-chip");
      if (result && result.target === p.index && !p.scalar) chip.classList.add("iw-active");
      if (example.label != null && p.index === example.label) chip.classList.add("iw-correct");
      chip.disabled = !context.targetable || Boolean(p.scalar);
      chip.addEventListener("click", () => context.onTarget(example.id, m, p.index));
      predictions.append(chip);
    }
    side.append(predictions);
    if (context.targetable && spec.classes.length > 1) {
      const options = [{ value: "", label: "any class…" }, ...spec.classes.map((c, i) => ({ value: String(i), label: c }))];
      const picker = select(options, "", "iw-target");
      picker.addEventListener("change", () => {
        if (picker.value !== "") context.onTarget(example.id, m, Number(picker.value));
      });
      side.append(picker);
    }
    if (!result) {
      const waiting = element("div", "iw-note iw-pending", "map follows…");
      waiting.dataset.testid = "iw-pending";
      waiting.title = "predictions come first; maps follow one example at a time";
      side.append(waiting);
    }
    if (result) {
      const meta = element("div", "iw-meta");
      const target = result.target == null ? "no target" : `target ${spec.classes[result.target] ?? result.target}`;
      meta.append(element("span", "", `${result.method} · ${target}`), ...resultNotes(result));
      side.append(meta, contributionBars(result, context));
      if (result.warning) side.append(element("div", "iw-note", result.warning));
      const stored = context.onLive ? storedNote(result, () => context.onLive!(example.id, m, result.target)) : null;
      if (stored) side.append(stored);
      if (result.error) {
        const error = element("div", "iw-error", result.error);
        error.dataset.testid = "iw-error";
        error.setAttribute("role", "alert");
        side.append(error);
      }
      side.append(...qualityControl(example, m, result, false, context, slots));
    }
    row.append(side);
    const body = element("div", "iw-features");
    const second = example.compare?.[m] ?? null;
    const blocks: [ModelResult | undefined, string][] = [[result, result?.method ?? ""]];
    if (second) blocks.push([second, second.method]);
    for (const [shown, method] of blocks) {
      const block = element("div", "iw-method-block");
      if (second) block.append(element("div", "iw-method-name", method));
      if (shown === second && second) {
        const notes = [second.delta != null ? `δ ${formatNumber(second.delta)}` : "", second.error ?? ""].filter(Boolean);
        if (second.error) {
          const error = element("div", "iw-error", second.error);
          error.dataset.testid = "iw-error";
          error.setAttribute("role", "alert");
          block.append(error);
        } else if (notes.length) block.append(element("div", "iw-meta", notes.join(" ")));
        block.append(...qualityControl(example, m, second, true, context, slots));
      }
      for (const view of featureViews(example, shown, context)) {
        block.append(view.el);
        views.push(view);
      }
      body.append(block);
    }
    row.append(body);
    rows.append(row);
    rowElements.push(row);
  });
  el.append(rows);
  return { el, views, rows: rowElements, quality: slots };
}
