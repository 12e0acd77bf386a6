// "Store": browse an attribution store (spec.store, AttributionVisualizer.from_store) — filter
// by class, correctness and a per-example statistic, sort, and page through thousands of
// examples. Every change asks for one page with a fetch whose ``filters.store`` is the query;
// the kernel reads that page's stored maps (StoreBrowser: widget/store_view.py), nothing is
// recomputed. The pager (previous / "page 3 of 120" / next) also sits in the bar above the
// examples.

import { button, checkbox, labelled, select } from "../controls";
import type { PageInfo, StoreQuery, StoreSpec } from "../types";
import { element } from "../views/view";
import { sectionBox, type Section, type SectionContext } from "./section";

export const DEFAULT_PAGE_SIZE = 12;

export function defaultQuery(): StoreQuery {
  return { label: "", prediction: "", correct: "all", statistic: "", minimum: null, maximum: null, sort: "id", descending: false, page: 0, size: DEFAULT_PAGE_SIZE };
}

/** "n_steps=4, method='riemann'" for the stored arguments (empty: the method's defaults). */
export function describeArguments(args: Record<string, unknown>): string {
  const parts = Object.entries(args).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`);
  return parts.length ? parts.join(", ") : "the method's defaults";
}

/** "page 3 of 120 · 1,431 of 10,000 match" */
export function describePage(page: PageInfo | null): string {
  if (!page) return "no page loaded";
  const of = `${page.matching.toLocaleString("en")} of ${page.total.toLocaleString("en")} match`;
  return page.matching ? `page ${page.number + 1} of ${page.pages} · ${of}` : `no example matches (${page.total.toLocaleString("en")} stored)`;
}

function numberField(value: number | null, testid: string, placeholder: string): HTMLInputElement {
  const input = element("input", "iw-input iw-store-number");
  input.type = "number";
  input.step = "any";
  input.placeholder = placeholder;
  input.value = value == null ? "" : String(value);
  input.dataset.testid = testid;
  return input;
}

function parsed(input: HTMLInputElement): number | null {
  const value = Number.parseFloat(input.value);
  return Number.isFinite(value) ? value : null;
}

export interface StoreSection extends Section {
  /** previous / page text / next, placed by the view above the examples */
  pager: HTMLElement;
  destroy(): void;
}

export function storeSection({ shared, view }: SectionContext, store: StoreSpec): StoreSection {
  const { choices, spec } = shared;
  const query = (choices.filters.store ??= defaultQuery());
  const { el, body } = sectionBox("Store", "iw-section-store");
  const info = element("div", "iw-note iw-store-info", `${store.method} · ${store.examples.toLocaleString("en")} stored examples · made with ${describeArguments(store.arguments)}`);
  info.dataset.testid = "iw-store-info";
  const classOptions = [{ value: "", label: "any" }, ...spec.classes.map((c) => ({ value: c, label: c }))];
  const label = select(classOptions, query.label, "iw-store-label");
  const prediction = select(classOptions, query.prediction, "iw-store-prediction");
  const correct = select(["all", "correct", "incorrect"].map((v) => ({ value: v, label: v })), query.correct, "iw-store-correct");
  const statistic = select([{ value: "", label: "none" }, ...store.statistics.map((s) => ({ value: s, label: s }))], query.statistic, "iw-store-statistic");
  const minimum = numberField(query.minimum, "iw-store-min", "min");
  const maximum = numberField(query.maximum, "iw-store-max", "max");
  const sort = select([{ value: "id", label: "position" }, ...store.statistics.map((s) => ({ value: s, label: s }))], query.sort, "iw-store-sort");
  const descending = checkbox(query.descending, "iw-store-descending");
  const size = element("input", "iw-input");
  size.type = "number";
  size.min = "1";
  size.max = String(spec.max_examples);
  size.value = String(query.size);
  size.dataset.testid = "iw-store-size";
  const range = element("div", "iw-store-range");
  range.append(statistic, minimum, maximum);
  const order = element("div", "iw-store-range");
  order.append(sort, labelled("descending", descending));

  // a change of the selection starts again at its first page; paging keeps it
  const ask = (change: () => void, page?: number) => {
    choices.update("filters", () => {
      change();
      query.page = page ?? 0;
    }, view);
    shared.request("fetch");
  };
  label.addEventListener("change", () => ask(() => (query.label = label.value)));
  prediction.addEventListener("change", () => ask(() => (query.prediction = prediction.value)));
  correct.addEventListener("change", () => ask(() => (query.correct = correct.value as StoreQuery["correct"])));
  statistic.addEventListener("change", () => ask(() => (query.statistic = statistic.value)));
  minimum.addEventListener("change", () => ask(() => (query.minimum = parsed(minimum))));
  maximum.addEventListener("change", () => ask(() => (query.maximum = parsed(maximum))));
  sort.addEventListener("change", () => ask(() => (query.sort = sort.value)));
  descending.addEventListener("change", () => ask(() => (query.descending = descending.checked)));
  size.addEventListener("change", () => ask(() => (query.size = Math.min(spec.max_examples, Math.max(1, Number.parseInt(size.value, 10) || DEFAULT_PAGE_SIZE)))));

  const pager = element("div", "iw-pager");
  pager.dataset.testid = "iw-pager";
  const previous = button("‹ previous", "iw-page-previous", "iw-button iw-secondary");
  const next = button("next ›", "iw-page-next", "iw-button iw-secondary");
  const where = element("span", "iw-page-info");
  where.dataset.testid = "iw-page-info";
  where.setAttribute("aria-live", "polite");
  pager.append(previous, where, next);
  let page: PageInfo | null = shared.store.status.page ?? null;
  previous.addEventListener("click", () => ask(() => undefined, Math.max(0, (page?.number ?? query.page) - 1)));
  next.addEventListener("click", () => ask(() => undefined, (page?.number ?? query.page) + 1));
  const showPage = () => {
    page = shared.store.status.page ?? page;
    where.textContent = describePage(page);
    previous.disabled = shared.isStatic || !page || page.number <= 0;
    next.disabled = shared.isStatic || !page || page.number + 1 >= page.pages;
  };
  const unsubscribe = shared.store.subscribe((what) => {
    if (what === "status") showPage();
  });

  body.append(info, labelled("label", label, "examples with this true class"), labelled("predicted", prediction, "examples the model predicts as this class"), labelled("correctness", correct), labelled("statistic in", range, "keep examples whose per-example statistic of the stored map lies in [min, max]"), labelled("sort by", order), labelled("page size", size));
  const sync = () => {
    label.value = query.label;
    prediction.value = query.prediction;
    correct.value = query.correct;
    statistic.value = query.statistic;
    minimum.value = query.minimum == null ? "" : String(query.minimum);
    maximum.value = query.maximum == null ? "" : String(query.maximum);
    sort.value = query.sort;
    descending.checked = query.descending;
    size.value = String(query.size);
    showPage();
  };
  sync();
  return { el, body, sync, pager, destroy: unsubscribe };
}
