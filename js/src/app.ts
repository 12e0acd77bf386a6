// The visualiser's view: controls, status, and the example cards. One App per rendered view;
// views of the same widget share a Store.

import { COLORMAPS } from "./colormap";
import { argumentForm, button, checkbox, labelled, select } from "./controls";
import { exampleCard, type Card, type PlacedView } from "./example";
import { scalesFor } from "./normalize";
import { receive, storeFor, type Store } from "./store";
import type { DisplayOptions, Example, Filters, MethodSchema, Settings, Spec, WidgetModel } from "./types";
import { element } from "./views/view";

function download(text: string, name: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "text/html" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

let requestCounter = 0;
function requestId(): string {
  requestCounter += 1;
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}-${requestCounter}`;
}

export const DEFAULT_DISPLAY: DisplayOptions = {
  sign: "all",
  colormap: "red-blue",
  normalize: "example",
  absoluteScale: 1,
  overlay: "blend",
  opacity: 0.65,
};

export class App {
  readonly root: HTMLElement;
  private spec: Spec;
  private store: Store;
  private settings: Settings;
  private argumentsByMethod: Record<string, Record<string, unknown>> = {};
  private shown: boolean[];
  private filters: Filters;
  private display: DisplayOptions = { ...DEFAULT_DISPLAY };
  private pending = new Map<string, unknown>();
  private exports = new Set<string>();
  private compare = "";
  private views: PlacedView[] = [];
  /** cards of the last render, by example object: unchanged examples keep their DOM */
  private cards = new Map<Example, Card>();
  private cardsKey = "";
  private cleanups: (() => void)[] = [];
  private argsBox = element("div", "iw-args-box");
  private examplesBox = element("div", "iw-examples");
  private progressBox = element("div", "iw-progress-box");
  private progressBar = element("progress", "iw-progress");
  private progressLabel = element("span", "iw-progress-label");
  private statusBox = element("div", "iw-status");

  constructor(private model: WidgetModel, el: HTMLElement) {
    this.spec = model.get("spec");
    this.store = storeFor(model);
    const saved = model.get("settings") ?? {};
    const method = this.methodNamed(saved.method)?.name ?? this.spec.methods[0]?.name ?? "";
    this.settings = {
      method,
      arguments: { ...(saved.arguments ?? {}) },
      baselines: this.spec.features.map((f, i) => saved.baselines?.[i] ?? f.baselines[0]),
      active: this.spec.features.map((_, i) => saved.active?.[i] ?? true),
    };
    this.argumentsByMethod[method] = this.settings.arguments;
    this.compare = this.methodNamed(saved.compare?.method)?.name ?? "";
    this.shown = this.spec.features.map((f) => f.type !== "empty");
    this.filters = {
      prediction: saved.filters?.prediction ?? "all",
      classes: saved.filters?.classes ?? [],
      num_examples: saved.filters?.num_examples ?? 4,
      max_batches: saved.filters?.max_batches ?? 64,
    };
    this.root = element("div", "insight-widget");
    this.root.dataset.testid = "iw-root";
    el.append(this.root);
    this.build();
    this.listen();
  }

  private methodNamed(name: string | undefined): MethodSchema | undefined {
    return this.spec.methods.find((m) => m.name === name);
  }

  private get method(): MethodSchema {
    return this.methodNamed(this.settings.method) ?? this.spec.methods[0];
  }

  // -- layout ----------------------------------------------------------------------------------
  private build(): void {
    const controls = element("div", "iw-controls");
    controls.append(this.methodSection(), this.inputsSection(), this.examplesSection(), this.displaySection());
    this.progressBar.dataset.testid = "iw-progress";
    this.progressBar.max = 1;
    const save = button("Save HTML", "iw-export", "iw-button iw-secondary iw-export");
    save.title = "download a self-contained page of what is shown (re-colouring works offline)";
    save.addEventListener("click", () => {
      const id = requestId();
      this.exports.add(id);
      this.model.send({ type: "export", id });
    });
    const cancel = button("Cancel", "iw-cancel", "iw-button iw-secondary");
    cancel.addEventListener("click", () => this.model.send({ type: "cancel", id: requestId() }));
    this.progressBox.append(this.progressBar, this.progressLabel, cancel);
    this.statusBox.dataset.testid = "iw-status";
    const bar = element("div", "iw-bar-row");
    bar.append(this.statusBox, save);
    this.root.append(controls, this.progressBox, bar, this.examplesBox);
    if (this.model.static) this.root.classList.add("iw-static");
    this.renderProgress();
    this.renderStatus();
    this.renderExamples();
  }

  private section(title: string): HTMLElement {
    const box = element("fieldset", "iw-section");
    box.append(element("legend", "", title));
    return box;
  }

  private methodSection(): HTMLElement {
    const box = this.section("Attribution");
    const families = new Map<string, MethodSchema[]>();
    for (const m of this.spec.methods) families.set(m.family, [...(families.get(m.family) ?? []), m]);
    const picker = element("select", "iw-select");
    picker.dataset.testid = "iw-method";
    for (const [family, methods] of families) {
      const group = element("optgroup");
      group.label = family;
      for (const m of methods) {
        const option = element("option", "", m.name);
        option.value = m.name;
        option.title = m.help;
        group.append(option);
      }
      picker.append(group);
    }
    picker.value = this.settings.method;
    picker.addEventListener("change", () => {
      this.settings.method = picker.value;
      this.settings.arguments = this.argumentsByMethod[picker.value] ?? {};
      this.renderArguments();
      this.recompute();
    });
    const compare = select(
      [{ value: "", label: "none" }, ...this.spec.methods.map((m) => ({ value: m.name, label: m.name }))],
      this.compare, "iw-compare");
    compare.addEventListener("change", () => {
      this.compare = compare.value;
      this.recompute();
    });
    box.append(labelled("method", picker), labelled("compare with", compare, "a second method shown side by side (its arguments: as last set, else defaults)"), this.argsBox);
    this.renderArguments();
    return box;
  }

  private renderArguments(): void {
    this.argsBox.replaceChildren(argumentForm(this.method, this.spec, this.settings.arguments, (values) => {
      this.settings.arguments = values;
      this.argumentsByMethod[this.settings.method] = values;
      this.recompute();
    }));
  }

  private inputsSection(): HTMLElement {
    const box = this.section("Inputs");
    this.spec.features.forEach((feature, i) => {
      const row = element("div", "iw-input-row");
      row.append(element("span", "iw-feature-name", `${feature.name} (${feature.type})`));
      const baseline = select(feature.baselines.map((b) => ({ value: b, label: b })), this.settings.baselines[i], `iw-baseline-${i}`);
      baseline.addEventListener("change", () => {
        this.settings.baselines[i] = baseline.value;
        this.recompute();
      });
      const active = checkbox(this.settings.active[i], `iw-active-${i}`);
      active.addEventListener("change", () => {
        this.settings.active[i] = active.checked;
        this.recompute();
      });
      const shown = checkbox(this.shown[i], `iw-shown-${i}`);
      shown.addEventListener("change", () => {
        this.shown[i] = shown.checked;
        this.renderExamples();
      });
      row.append(labelled("baseline", baseline), labelled("attributed", active, "off: held fixed at its input value"), labelled("shown", shown));
      box.append(row);
    });
    return box;
  }

  private examplesSection(): HTMLElement {
    const box = this.section("Examples");
    const prediction = select(this.spec.predictions.map((p) => ({ value: p, label: p })), this.filters.prediction, "iw-filter-prediction");
    prediction.addEventListener("change", () => (this.filters.prediction = prediction.value));
    const search = element("input", "iw-input");
    search.type = "search";
    search.placeholder = "filter classes…";
    search.dataset.testid = "iw-class-search";
    const classes = element("select", "iw-select iw-classes");
    classes.multiple = true;
    classes.size = 3;
    classes.dataset.testid = "iw-filter-classes";
    for (const name of this.spec.classes) {
      const option = element("option", "", name);
      option.value = name;
      option.selected = this.filters.classes.includes(name);
      classes.append(option);
    }
    search.addEventListener("input", () => {
      const query = search.value.toLowerCase();
      for (const option of Array.from(classes.options)) option.hidden = !option.value.toLowerCase().includes(query);
    });
    classes.addEventListener("change", () => {
      this.filters.classes = Array.from(classes.selectedOptions).map((o) => o.value);
    });
    const count = element("input", "iw-input");
    count.type = "number";
    count.min = "1";
    count.max = String(this.spec.max_examples);
    count.value = String(this.filters.num_examples);
    count.dataset.testid = "iw-num-examples";
    count.addEventListener("change", () => (this.filters.num_examples = Math.max(1, Number.parseInt(count.value, 10) || 4)));
    const scan = element("input", "iw-input");
    scan.type = "number";
    scan.min = "1";
    scan.value = String(this.filters.max_batches ?? 64);
    scan.dataset.testid = "iw-max-batches";
    scan.addEventListener("change", () => (this.filters.max_batches = Math.max(1, Number.parseInt(scan.value, 10) || 64)));
    const fetch = button("Fetch", "iw-fetch", "iw-button iw-primary");
    fetch.addEventListener("click", () => this.request("fetch"));
    fetch.disabled = Boolean(this.model.static);
    const classBox = element("div", "iw-class-filter");
    classBox.append(search, classes);
    box.append(labelled("predictions", prediction), labelled("classes", classBox, "examples labelled or predicted as these (none = all)"), labelled("count", count), labelled("scan batches", scan, "at most this many batches are read per fetch"), fetch);
    return box;
  }

  private displaySection(): HTMLElement {
    const box = this.section("Display");
    const options = (values: string[]) => values.map((v) => ({ value: v, label: v }));
    const sign = select(options(["all", "positive", "negative", "absolute"]), this.display.sign, "iw-sign");
    const colormap = select(options(COLORMAPS), this.display.colormap, "iw-colormap");
    const normalize = select(
      [{ value: "example", label: "per example" }, { value: "shared", label: "shared" }, { value: "absolute", label: "absolute" }],
      this.display.normalize, "iw-normalize");
    const scale = element("input", "iw-input iw-scale");
    scale.type = "number";
    scale.step = "any";
    scale.min = "0";
    scale.value = String(this.display.absoluteScale);
    scale.dataset.testid = "iw-scale";
    scale.title = "|attribution| shown at full colour with absolute normalisation";
    const overlay = select(
      [{ value: "heatmap", label: "heat map" }, { value: "blend", label: "blended" }, { value: "masked", label: "masked" }, { value: "alpha", label: "alpha-scaled" }, { value: "original", label: "original" }],
      this.display.overlay, "iw-overlay");
    const opacity = element("input", "iw-range");
    opacity.type = "range";
    opacity.min = "0";
    opacity.max = "1";
    opacity.step = "0.05";
    opacity.value = String(this.display.opacity);
    opacity.dataset.testid = "iw-opacity";
    const update = () => {
      this.display = {
        sign: sign.value as DisplayOptions["sign"],
        colormap: colormap.value,
        normalize: normalize.value as DisplayOptions["normalize"],
        absoluteScale: Math.max(0, Number.parseFloat(scale.value) || 0),
        overlay: overlay.value as DisplayOptions["overlay"],
        opacity: Number.parseFloat(opacity.value),
      };
      scale.disabled = this.display.normalize !== "absolute";
      this.recolor();
    };
    scale.disabled = true;
    for (const control of [sign, colormap, normalize, overlay]) control.addEventListener("change", update);
    scale.addEventListener("input", update);
    opacity.addEventListener("input", update);
    box.append(labelled("sign", sign), labelled("colour map", colormap), labelled("normalise", normalize), labelled("scale", scale), labelled("overlay", overlay), labelled("opacity", opacity));
    return box;
  }

  // -- kernel traffic ---------------------------------------------------------------------------
  private listen(): void {
    const onMessage = (content: any, buffers: (DataView | ArrayBuffer)[]) => {
      if (content?.type === "export") {
        // only the view that asked downloads the page
        if (this.exports.delete(content.id)) download(content.html, "insight_widget.html");
        return;
      }
      receive(this.model, this.store, content, buffers);
    };
    this.model.on("msg:custom", onMessage);
    const onSpec = () => {
      this.spec = this.model.get("spec");
    };
    this.model.on("change:spec", onSpec);
    const unsubscribe = this.store.subscribe((what) => {
      if (what === "examples") this.renderExamples();
      else if (what === "progress") this.renderProgress();
      else this.renderStatus();
    });
    this.cleanups.push(unsubscribe, () => {
      this.model.off("msg:custom", onMessage);
      this.model.off("change:spec", onSpec);
    });
  }

  private request(kind: "fetch" | "recompute"): void {
    if (this.model.static) return;
    const id = requestId();
    this.store.started(id, kind);
    this.model.send({ type: kind, id, settings: this.currentSettings(), filters: { ...this.filters } });
  }

  private recompute(): void {
    if (this.store.examples.length) this.request("recompute");
  }

  private currentSettings(): Settings {
    return {
      method: this.settings.method,
      arguments: { ...this.settings.arguments },
      baselines: [...this.settings.baselines],
      active: [...this.settings.active],
      compare: this.compare ? { method: this.compare, arguments: { ...(this.argumentsByMethod[this.compare] ?? {}) } } : null,
    };
  }

  private onTarget(exampleId: number, modelIndex: number, target: number): void {
    if (this.model.static) return;
    const id = requestId();
    this.pending.set(`${exampleId}:${modelIndex}`, id);
    this.store.started(id, "attribute");
    this.model.send({ type: "attribute", id, example: exampleId, model: modelIndex, target, settings: this.currentSettings() });
    this.renderExamples();
  }

  // -- rendering --------------------------------------------------------------------------------
  private renderProgress(): void {
    const progress = this.store.progress;
    const running = this.store.running.size > 0;
    this.progressBox.classList.toggle("iw-hidden", !running);
    this.progressBar.value = progress?.fraction ?? 0;
    this.progressLabel.textContent = progress?.label ?? "";
    this.root.dataset.busy = running ? "true" : "false";
  }

  private renderStatus(): void {
    const status = this.store.status ?? {};
    this.statusBox.replaceChildren();
    if (this.model.static) {
      this.statusBox.append(element("div", "iw-note", "Static export: re-colouring works here; fetching and new attributions need a running kernel."));
      return;
    }
    if (status.state === "error") {
      const error = element("div", "iw-error", status.message ?? "error");
      error.dataset.testid = "iw-error";
      this.statusBox.append(error);
    } else if (status.message && status.state !== "superseded") {
      this.statusBox.append(element("div", "iw-note", status.message));
    }
    for (const [key, id] of this.pending) if (!this.store.running.has(id)) this.pending.delete(key);
  }

  private renderExamples(): void {
    for (const [key, id] of this.pending) if (!this.store.running.has(id)) this.pending.delete(key);
    const examples = this.store.examples;
    const targetable = this.method.target && this.spec.use_label_for_attr && !this.model.static;
    const key = JSON.stringify([this.shown, targetable]);
    const previous = key === this.cardsKey ? this.cards : new Map<Example, Card>();
    this.cards = new Map();
    this.cardsKey = key;
    this.views = [];
    const busy = (e: number, m: number) => this.pending.has(`${e}:${m}`);
    const cards = examples.map((example) => {
      const card = previous.get(example) ?? exampleCard(example, {
        spec: this.spec,
        shown: this.shown,
        targetable,
        busy,
        onTarget: (e, m, t) => this.onTarget(e, m, t),
      });
      card.rows.forEach((row, m) => row.classList.toggle("iw-busy", busy(example.id, m)));
      this.cards.set(example, card);
      this.views.push(...card.views);
      return card.el;
    });
    if (!cards.length) {
      cards.push(element("div", "iw-empty", this.model.static ? "No examples in this export." : "Press Fetch to load examples."));
    }
    this.examplesBox.replaceChildren(...cards);
    this.recolor();
  }

  /** Re-colour every view from its raw values: browser only, no kernel message. */
  recolor(): number {
    const started = performance.now();
    const groups = new Map<string, PlacedView[]>();
    for (const view of this.views) {
      if (!view.values) continue;
      groups.set(view.group, [...(groups.get(view.group) ?? []), view]);
    }
    for (const views of groups.values()) {
      const scales = scalesFor(views.map((v) => v.values!), this.display);
      views.forEach((view, i) => view.redraw(this.display, scales[i]));
    }
    const elapsed = performance.now() - started;
    this.root.dataset.recolorMs = elapsed.toFixed(2);
    return elapsed;
  }

  observe(el: HTMLElement): void {
    if (typeof ResizeObserver === "undefined") return;
    let frame = 0;
    const observer = new ResizeObserver((entries) => {
      const width = entries[0]?.contentRect.width ?? el.clientWidth;
      const narrow = width < 640;
      const wide = width >= 1100;
      if (narrow === this.root.classList.contains("iw-narrow") && wide === this.root.classList.contains("iw-wide")) return;
      // change the layout in the next frame, not inside the observer's own notification
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        this.root.classList.toggle("iw-narrow", narrow);
        this.root.classList.toggle("iw-wide", wide);
      });
    });
    observer.observe(el);
    this.cleanups.push(() => {
      observer.disconnect();
      cancelAnimationFrame(frame);
    });
  }

  destroy(): void {
    this.cleanups.forEach((cleanup) => cleanup());
    this.cleanups = [];
    this.root.remove();
  }
}
