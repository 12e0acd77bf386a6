// One view of the visualiser: the four control sections, status and progress, and the example
// cards. Every view of a widget draws from the same Shared state (store, choices), so views
// stay in step; a view owns only its DOM and its layout.

import { cardNavigation } from "./a11y";
import { button } from "./controls";
import { exampleCard, type Card, type PlacedView } from "./example";
import { scalesFor } from "./normalize";
import { displaySection } from "./sections/display";
import { saveButton, statusParts, type StatusParts } from "./status";
import { examplesSection } from "./sections/examples";
import { inputsSection } from "./sections/inputs";
import { methodSection } from "./sections/method";
import type { Section } from "./sections/section";
import { speedSection } from "./sections/speed";
import { storeSection } from "./sections/store";
import type { Shared } from "./shared";
import type { Example } from "./types";
import { datasetPanel } from "./views/dataset_panel";
import { qualityPanel } from "./views/quality";
import { element } from "./views/view";
import { ZOOM_EVENT, ZoomDialog, type ZoomSource } from "./zoom";

export { DEFAULT_DISPLAY } from "./choices";

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
  private status: StatusParts;
  private zoom: ZoomDialog;
  private pager: HTMLElement | null = null;
  private panel: HTMLElement | null = null;

  constructor(private shared: Shared, el: HTMLElement) {
    this.root = element("div", "insight-widget");
    this.root.dataset.testid = "iw-root";
    this.status = statusParts(shared, this.root, "Static export: re-colouring works here; fetching and new attributions need a running kernel.");
    const context = { shared, view: this };
    this.sections = [methodSection(context), inputsSection(context), examplesSection(context), displaySection(context), speedSection(context)];
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
    this.zoom = new ZoomDialog(this.root);
    this.build();
    this.listen();
  }

  // -- layout ----------------------------------------------------------------------------------
  private build(): void {
    const { shared } = this;
    const controls = element("div", "iw-controls");
    controls.append(...this.sections.map((s) => s.el));
    const fetch = button("Fetch", "iw-fetch", "iw-button iw-primary");
    fetch.title = "load examples that match the filters (Examples)";
    fetch.addEventListener("click", () => shared.request("fetch"));
    fetch.disabled = shared.isStatic;
    const bar = element("div", "iw-bar-row");
    bar.append(fetch, this.status.statusBox, saveButton(shared));
    if (this.pager) {
      fetch.textContent = "Show page";
      fetch.title = "load the stored examples of this page (Store)";
      bar.insertBefore(this.pager, this.status.statusBox);
    }
    this.root.append(controls, bar, this.status.progressBox, ...(this.panel ? [this.panel] : []), this.examplesBox, this.zoom.el);
    const onZoom = (event: Event) => this.zoom.open((event as CustomEvent<ZoomSource>).detail, event.target as HTMLElement);
    this.root.addEventListener(ZOOM_EVENT, onZoom);
    this.cleanups.push(cardNavigation(this.examplesBox), () => this.root.removeEventListener(ZOOM_EVENT, onZoom), () => this.zoom.close());
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
    const offQuality = this.shared.quality.subscribe(() => this.renderQuality());
    this.cleanups.push(offQuality);
    const offChoices = choices.subscribe((what, source) => {
      if (source !== this) this.sections.forEach((section) => section.sync());
      if (what === "display") this.recolor();
      else if (what === "shown" || what === "attribution") this.renderExamples();
    });
    this.cleanups.push(offStore, offChoices);
  }

  // -- rendering --------------------------------------------------------------------------------
  private renderProgress(): void {
    this.status.renderProgress();
    // screen readers wait for the cards to settle instead of hearing every streamed change
    this.examplesBox.setAttribute("aria-busy", this.shared.store.running.size > 0 ? "true" : "false");
  }

  private renderStatus(): void {
    this.status.renderStatus();
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
        onQuality: shared.isStatic ? undefined : (e, m, compare) => shared.requestQuality(e, m, compare),
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
    // re-inserting a card drops the focus inside it: keyboard users keep their place
    const focused = (this.root.getRootNode() as Document | ShadowRoot).activeElement as HTMLElement | null;
    this.examplesBox.replaceChildren(...cards);
    if (focused && focused.isConnected && this.examplesBox.contains(focused) && focused !== document.activeElement) focused.focus({ preventScroll: true });
    this.renderQuality();
    this.recolor();
  }

  /** Fill each shown map's quality slot from the QualityStore (empty once the map changed). */
  private renderQuality(): void {
    const { quality } = this.shared;
    for (const [example, card] of this.cards) {
      for (const slot of card.quality) {
        const state = quality.get(example.id, slot.model, slot.compare);
        if (!state || state.result !== slot.result) slot.el.replaceChildren();
        else slot.el.replaceChildren(qualityPanel(state, () => this.shared.cancel(state.id)));
      }
    }
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
    this.zoom.redraw();
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
