// The dataset panel of a store: per-class summaries (StorePages.summary_message) as plots —
// a map of the chosen statistic per class (all classes on one shared colour scale, drawn by the
// image view and the display options' colour map) and a bar chart of its mean per channel (or
// per feature for 1-D maps). Asked for once, when the panel is first opened; the tensors arrive
// as binary buffers.

import type { DisplayOptions } from "../types";
import { scalesFor } from "../normalize";
import type { Reply, Shared } from "../shared";
import { decodeCached } from "../wire";
import { select } from "../controls";
import { imageView } from "./image";
import { element, formatNumber, type AttributionView } from "./view";

/** Summary statistics offered (FeatureSummary.as_dict names): magnitude first. */
export const PANEL_STATISTICS = ["abs_mean", "mean", "abs_max", "std_dev"];

function floats(values: ArrayLike<number>): Float32Array {
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

/** A bar chart of ``values`` against ``largest`` (|value| / largest of the bar's width). */
export function barChart(values: Float32Array, names: string[], largest: number): HTMLElement {
  const chart = element("div", "iw-barchart");
  chart.dataset.testid = "iw-barchart";
  values.forEach((value, i) => {
    const row = element("div", "iw-contribution");
    const track = element("span", "iw-track");
    const bar = element("span", `iw-bar ${value >= 0 ? "iw-positive" : "iw-negative"}`);
    bar.style.width = `${largest > 0 ? (Math.abs(value) / largest) * 100 : 0}%`;
    track.append(bar);
    row.append(element("span", "iw-row-name", names[i] ?? String(i)), track, element("span", "iw-row-score", formatNumber(value)));
    chart.append(row);
  });
  return chart;
}

export interface DatasetPanel {
  el: HTMLDetailsElement;
  destroy(): void;
}

export function datasetPanel(shared: Shared): DatasetPanel {
  const el = element("details", "iw-section iw-dataset-panel");
  el.dataset.testid = "iw-dataset-panel";
  const title = element("summary", "iw-section-title", "Dataset summaries");
  const statistic = select(PANEL_STATISTICS.map((s) => ({ value: s, label: s })), "abs_mean", "iw-panel-statistic");
  const plots = element("div", "iw-panel-plots");
  plots.dataset.testid = "iw-panel-plots";
  el.append(title, statistic, plots);
  let views: AttributionView[] = [];
  let signed = false;

  const recolor = () => {
    const maps = views.map((v) => v.values!).filter(Boolean);
    // one scale for every class, so their maps compare; a magnitude statistic is drawn as one
    const display: DisplayOptions = { ...shared.choices.display, sign: signed ? "all" : "absolute", normalize: "shared", overlay: "heatmap" };
    const scales = scalesFor(maps, display);
    views.forEach((view, i) => view.redraw(display, scales[i]));
  };

  const show = (reply: Reply) => {
    signed = !reply.statistic.startsWith("abs_");
    views = [];
    const bars = reply.classes.map((c) => (c.bars ? floats(decodeCached(c.bars).values) : null));
    const largest = Math.max(0, ...bars.flatMap((b) => (b ? Array.from(b, Math.abs) : [])));
    const figures = reply.classes.map((entry, i) => {
      const figure = element("figure", "iw-panel-class");
      figure.dataset.testid = "iw-panel-class";
      figure.append(element("figcaption", "", `${entry.name} (n=${entry.count})`));
      if (entry.map) {
        const decoded = decodeCached(entry.map);
        const view = imageView(null, floats(decoded.values), decoded.shape, reply.statistic);
        views.push(view);
        figure.append(view.el);
      }
      const values = bars[i];
      if (values) {
        const names = Array.from(values, (_, k) => (entry.bars_of === "channel" ? `channel ${k}` : (shared.spec.features[0]?.name ?? "feature") + ` ${k}`));
        figure.append(barChart(values, names, largest));
      }
      return figure;
    });
    plots.replaceChildren(...(figures.length ? figures : [element("div", "iw-empty", "The store has no summaries.")]));
    recolor();
  };

  const load = () => {
    if (shared.isStatic) {
      plots.replaceChildren(element("div", "iw-note", "The summaries are read from the store: they need a running kernel."));
      return;
    }
    plots.replaceChildren(element("div", "iw-note", "loading the store's summaries…"));
    shared.ask({ type: "store_summary", statistic: statistic.value }, show);
  };
  let loaded = false;
  el.addEventListener("toggle", () => {
    if (el.open && !loaded) {
      loaded = true;
      load();
    }
  });
  statistic.addEventListener("change", load);
  const unsubscribe = shared.choices.subscribe((what) => {
    if (what === "display") recolor();
  });
  return { el, destroy: unsubscribe };
}
