// One view of the visualiser: the four control sections, status and progress, and the example
// cards. Every view of a widget draws from the same Shared state (store, choices), so views
// stay in step; a view owns only its DOM and its layout.

import { button } from "./controls";
import { exampleCard, type Card, type PlacedView } from "./example";
import { scalesFor } from "./normalize";
import { displaySection } from "./sections/display";
import { examplesSection } from "./sections/examples";
import { inputsSection } from "./sections/inputs";
import { methodSection } from "./sections/method";
import type { Section } from "./sections/section";
import { storeSection } from "./sections/store";
import type { Shared } from "./shared";
import type { Example } from "./types";
import { datasetPanel } from "./views/dataset_panel";
import { element } from "./views/view";

export { DEFAULT_DISPLAY } from "./choices";

function download(text: string, name: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "text/html" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Widths (px) below which the layout stacks, and from which examples go two per row. */
const NARROW = 640;
const WIDE = 1100;
/** A host that caps its output below this height (px; marimo caps at 610) gets the compact layout. */
const SHORT = 800;

/** ``node``'s parent, crossing out of a shadow root (marimo renders widgets in one). */
function parentOf(node: Element): Element | null {
  if (node.parentElement) return node.parentElement;
  const root = node.getRootNode();
  return root instanceof ShadowRoot ? root.host : null;
}

/** The smallest max-height an ancestor imposes on ``el`` (Infinity when none does). */
function heightCap(el: HTMLElement): number {
  let cap = Infinity;
  for (let node = parentOf(el), depth = 0; node && depth < 16; node = parentOf(node), depth++) {
    const value = Number.parseFloat(getComputedStyle(node).maxHeight);
    if (Number.isFinite(value) && value > 0) cap = Math.min(cap, value);
  }
  return cap;
}

export class App {
  readonly root: HTMLElement;
  private sections: Section[];
  private views: PlacedView[] = [];
  /** cards of the last render, by example object: unchanged examples keep their DOM */
  private cards = new Map<Example, Card>();
  private cardsKey = "";
  private cleanups: (() => void)[] = [];
  private examplesBox = element("div", "iw-examples");
  private progressBox = element("div", "iw-progress-box");
  private progressBar = element("progress", "iw-progress");
  private progressLabel = element("span", "iw-progress-label");
  private statusBox = element("div", "iw-status");
  private pager: HTMLElement | null = null;
  private panel: HTMLElement | null = null;

  constructor(private shared: Shared, el: HTMLElement) {
    this.root = element("div", "insight-widget");
    this.root.dataset.testid = "iw-root";
    const context = { shared, view: this };
    this.sections = [methodSection(context), inputsSection(context), examplesSection(context), displaySection(context)];
    // a store (from_store): its section pages through the stored examples, its panel plots
    // the per-class summaries; the scan filters do not apply to a store's pages
    const store = shared.spec.store ? storeSection(context, shared.spec.store) : null;
    if (store) {
      this.sections.splice(2, 1, store);
      this.pager = store.pager;
      this.cleanups.push(store.destroy);
    }
    if (shared.spec.store?.summary) {
      const panel = datasetPanel(shared);
      this.panel = panel.el;
      this.cleanups.push(panel.destroy);
    }
    el.append(this.root);
    this.build();
    this.listen();
  }

  // -- layout ----------------------------------------------------------------------------------
  private build(): void {
    const { shared } = this;
    const controls = element("div", "iw-controls");
    controls.append(...this.sections.map((s) => s.el));
    this.progressBar.dataset.testid = "iw-progress";
    this.progressBar.max = 1;
    const fetch = button("Fetch", "iw-fetch", "iw-button iw-primary");
    fetch.title = "load examples that match the filters (Examples)";
    fetch.addEventListener("click", () => shared.request("fetch"));
    fetch.disabled = shared.isStatic;
    const save = button("Save HTML", "iw-export", "iw-button iw-secondary iw-export");
    save.title = "download a self-contained page of what is shown (re-colouring works offline)";
    save.addEventListener("click", () => shared.exportPage((html) => download(html, "insight_widget.html")));
    const cancel = button("Cancel", "iw-cancel", "iw-button iw-secondary");
    cancel.addEventListener("click", () => shared.cancel());
    this.progressBox.append(this.progressBar, this.progressLabel, cancel);
    this.statusBox.dataset.testid = "iw-status";
    const bar = element("div", "iw-bar-row");
    bar.append(fetch, this.statusBox, save);
    if (this.pager) {
      fetch.textContent = "Show page";
      fetch.title = "load the stored examples of this page (Store)";
      bar.insertBefore(this.pager, this.statusBox);
    }
    this.root.append(controls, bar, this.progressBox, ...(this.panel ? [this.panel] : []), this.examplesBox);
    if (shared.isStatic) this.root.classList.add("iw-static");
    this.renderProgress();
    this.renderStatus();
    this.renderExamples();
  }

  // -- shared state -> this view --------------------------------------------------------------
  private listen(): void {
    const { store, choices } = this.shared;
    const offStore = store.subscribe((what) => {
      if (what === "examples") this.renderExamples();
      else if (what === "progress") this.renderProgress();
      else this.renderStatus();
    });
    const offChoices = choices.subscribe((what, source) => {
      if (source !== this) this.sections.forEach((section) => section.sync());
      if (what === "display") this.recolor();
      else if (what === "shown" || what === "attribution") this.renderExamples();
    });
    this.cleanups.push(offStore, offChoices);
  }

  // -- rendering --------------------------------------------------------------------------------
  private renderProgress(): void {
    const { store } = this.shared;
    const running = store.running.size > 0;
    this.progressBox.classList.toggle("iw-hidden", !running);
    this.progressBar.value = store.progress?.fraction ?? 0;
    this.progressLabel.textContent = store.progress?.label ?? "";
    this.root.dataset.busy = running ? "true" : "false";
  }

  private renderStatus(): void {
    const status = this.shared.store.status ?? {};
    this.statusBox.replaceChildren();
    if (this.shared.isStatic) {
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
  }

  private renderExamples(): void {
    const { shared } = this;
    const { spec, choices, store, pending } = shared;
    const targetable = choices.methodSchema.target && spec.use_label_for_attr && !shared.isStatic;
    const key = JSON.stringify([choices.shown, targetable]);
    const previous = key === this.cardsKey ? this.cards : new Map<Example, Card>();
    this.cards = new Map();
    this.cardsKey = key;
    this.views = [];
    const busy = (e: number, m: number) => pending.has(`${e}:${m}`);
    const cards = store.examples.map((example) => {
      const card = previous.get(example) ?? exampleCard(example, {
        spec,
        shown: [...choices.shown],
        targetable,
        busy,
        onTarget: (e, m, t) => {
          shared.attribute(e, m, t);
          this.renderExamples();
        },
        onLive: shared.isStatic ? undefined : (e, m, t) => {
          shared.live(e, m, t);
          this.renderExamples();
        },
      });
      card.rows.forEach((row, m) => row.classList.toggle("iw-busy", busy(example.id, m)));
      this.cards.set(example, card);
      this.views.push(...card.views);
      return card.el;
    });
    if (!cards.length) {
      cards.push(element("div", "iw-empty", shared.isStatic ? "No examples in this export." : "Press Fetch to load examples."));
    }
    this.examplesBox.replaceChildren(...cards);
    this.recolor();
  }

  /** Re-colour every view from its raw values: browser only, no kernel message. */
  recolor(): number {
    const started = performance.now();
    const display = this.shared.choices.display;
    const groups = new Map<string, PlacedView[]>();
    for (const view of this.views) {
      if (!view.values) continue;
      groups.set(view.group, [...(groups.get(view.group) ?? []), view]);
    }
    for (const views of groups.values()) {
      const scales = scalesFor(views.map((v) => v.values!), display);
      views.forEach((view, i) => view.redraw(display, scales[i]));
    }
    const elapsed = performance.now() - started;
    this.root.dataset.recolorMs = elapsed.toFixed(2);
    return elapsed;
  }

  /** Follow the host's size: stacked when narrow, two columns when wide, compact (control
   * sections collapsed above the examples) when narrow or height-capped. */
  observe(el: HTMLElement): void {
    if (typeof ResizeObserver === "undefined") return;
    let frame = 0;
    const observer = new ResizeObserver((entries) => {
      const width = entries[0]?.contentRect.width ?? el.clientWidth;
      const narrow = width < NARROW;
      const wide = width >= WIDE;
      const compact = narrow || heightCap(el) < SHORT;
      const classes = this.root.classList;
      if (narrow === classes.contains("iw-narrow") && wide === classes.contains("iw-wide") && compact === classes.contains("iw-compact")) return;
      // change the layout in the next frame, not inside the observer's own notification
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        classes.toggle("iw-narrow", narrow);
        classes.toggle("iw-wide", wide);
        if (compact !== classes.contains("iw-compact")) {
          classes.toggle("iw-compact", compact);
          // entering compact collapses the sections; leaving it opens them again
          this.sections.forEach((section) => (section.el.open = !compact));
        }
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
