import { afterEach, describe, expect, it, vi } from "vitest";
import { describePage } from "../src/sections/store";
import { canvasPixels, FakeModel, float32, imageExample, mount, openWidget, spec } from "./fake";

let cleanups: (() => void)[] = [];
afterEach(() => {
  cleanups.forEach((c) => c());
  cleanups = [];
  document.body.replaceChildren();
});

const STORE = { method: "IntegratedGradients", examples: 1440, arguments: { n_steps: 4 }, target: "prediction", statistics: ["score", "delta", "total", "abs_total", "max_abs"], summary: true };

function setup(state: Record<string, any> = {}) {
  const model = new FakeModel({ spec: spec({ store: STORE }), examples: [], settings: {}, status: {}, ...state });
  const el = mount(model);
  const widget = openWidget(model);
  cleanups.push(widget.render(el), widget.close);
  return { model, el };
}

const q = (el: HTMLElement, id: string) => el.querySelector<HTMLElement>(`[data-testid="${id}"]`)!;
const choose = (el: HTMLElement, id: string, value: string) => {
  const control = q(el, id) as HTMLInputElement | HTMLSelectElement;
  control.value = value;
  control.dispatchEvent(new Event("change"));
};

describe("browsing a store", () => {
  it("replaces the scan filters by the store's and says what the maps were made with", () => {
    const { el } = setup();
    expect(q(el, "iw-section-store")).not.toBeNull();
    expect(q(el, "iw-section-examples")).toBeNull();
    expect(q(el, "iw-store-info").textContent).toContain("n_steps=4");
    expect(Array.from((q(el, "iw-store-sort") as HTMLSelectElement).options).map((o) => o.value)).toEqual(["id", ...STORE.statistics]);
  });

  it("each filter or sort change asks for the first page of the new selection", () => {
    const { model, el } = setup();
    choose(el, "iw-store-label", "dog");
    expect(model.sent.at(-1)).toMatchObject({ type: "fetch", filters: { store: { label: "dog", page: 0, size: 12 } } });
    choose(el, "iw-store-correct", "incorrect");
    choose(el, "iw-store-statistic", "max_abs");
    choose(el, "iw-store-min", "0.5");
    choose(el, "iw-store-sort", "max_abs");
    (q(el, "iw-store-descending") as HTMLInputElement).click();
    choose(el, "iw-store-size", "24");
    expect(model.sent.at(-1).filters.store).toEqual({ label: "dog", prediction: "", correct: "incorrect", statistic: "max_abs", minimum: 0.5, maximum: null, sort: "max_abs", descending: true, page: 0, size: 24 });
    expect(model.sent.every((m: any) => m.type === "fetch")).toBe(true);
  });

  it("a reopened widget keeps the saved page query", () => {
    const saved = { filters: { store: { label: "cat", prediction: "", correct: "incorrect", statistic: "", minimum: null, maximum: null, sort: "score", descending: true, page: 4, size: 6 } } };
    const { model, el } = setup({ settings: saved });
    expect((q(el, "iw-store-label") as HTMLSelectElement).value).toBe("cat");
    expect((q(el, "iw-store-sort") as HTMLSelectElement).value).toBe("score");
    q(el, "iw-fetch").click();
    expect(model.sent.at(-1).filters.store).toMatchObject({ label: "cat", correct: "incorrect", page: 4, size: 6 });
  });

  it("pages: 'page 3 of 120', next and previous ask for the neighbouring pages", () => {
    const { model, el } = setup();
    expect((q(el, "iw-page-next") as HTMLButtonElement).disabled).toBe(true); // nothing loaded yet
    q(el, "iw-fetch").click();
    const request = model.sent.at(-1);
    model.reply({ type: "done", id: request.id, state: "complete", page: { number: 2, pages: 120, size: 12, matching: 1431, total: 1440 }, buffer_paths: [] });
    expect(q(el, "iw-page-info").textContent).toBe("page 3 of 120 · 1,431 of 1,440 match");
    q(el, "iw-page-next").click();
    expect(model.sent.at(-1).filters.store.page).toBe(3);
    q(el, "iw-page-previous").click();
    expect(model.sent.at(-1).filters.store.page).toBe(1);
    model.reply({ type: "done", id: model.sent.at(-1).id, state: "complete", page: { number: 119, pages: 120, size: 12, matching: 1431, total: 1440 }, buffer_paths: [] });
    expect((q(el, "iw-page-next") as HTMLButtonElement).disabled).toBe(true);
    expect(describePage({ number: 0, pages: 0, size: 12, matching: 0, total: 9 })).toContain("no example matches");
  });

  it("a stored map says which arguments differ and recomputes that example live on request", () => {
    const example = imageExample(5);
    example.models[0].stored = { arguments: { n_steps: 4 }, differs: ["n_steps"] };
    const { model, el } = setup({ examples: [example] });
    expect(q(el, "iw-stored").textContent).toContain("differs: n_steps");
    q(el, "iw-live").click();
    expect(model.sent.at(-1)).toMatchObject({ type: "store_live", example: 5, model: 0, target: 0, settings: { method: "Integrated Gradients" } });
    expect(q(el, "iw-example").querySelector(".iw-model")!.classList.contains("iw-busy")).toBe(true);
  });
});

describe("the dataset panel", () => {
  it("asks for the summaries once opened and draws a map and a bar chart per class", async () => {
    const { model, el } = setup();
    const panel = q(el, "iw-dataset-panel") as HTMLDetailsElement;
    expect(model.sent).toEqual([]);
    panel.open = true;
    await vi.waitFor(() => expect(model.sent.at(-1)).toMatchObject({ type: "store_summary", statistic: "abs_mean" }));
    const request = model.sent.at(-1);
    const entry = (name: string, map: number[], bars: number[]) => ({ name, count: 3, map: float32(map, [2, 2]), bars: float32(bars, [3]), bars_of: "channel" });
    const classes = [entry("all", [0, 1.5, 2, 3], [1, 2, 3]), entry("cat", [1.5, 1, 0.5, 0], [3, 0, 0])];
    // the tensors arrive as binary buffers, as the kernel sends them
    const buffers = classes.flatMap((c) => [c.map.data as DataView, c.bars.data as DataView]);
    classes.forEach((c) => ((c.map as any).data = null, (c.bars as any).data = null));
    const paths = [0, 1].flatMap((i) => [["classes", i, "map", "data"], ["classes", i, "bars", "data"]]);
    model.reply({ type: "reply", id: request.id, kind: "store_summary", statistic: "abs_mean", method: "IntegratedGradients", classes, buffer_paths: paths }, buffers);
    const figures = el.querySelectorAll('[data-testid="iw-panel-class"]');
    expect(Array.from(figures, (f) => f.querySelector("figcaption")!.textContent)).toEqual(["all (n=3)", "cat (n=3)"]);
    const canvases = Array.from(figures, (f) => f.querySelector<HTMLCanvasElement>('[data-testid="iw-attribution"]')!);
    // one shared scale: equal values get equal colours across classes (per-class scales would
    // draw cat's largest value, 1.5, at full colour)
    const [all, cat] = canvases.map(canvasPixels);
    expect(cat.slice(0, 4)).toEqual(all.slice(4, 8));
    expect(cat.slice(0, 4)).not.toEqual(all.slice(12, 16));
    const widths = Array.from(figures[1].querySelectorAll<HTMLElement>(".iw-bar"), (b) => b.style.width);
    expect(widths).toEqual(["100%", "0%", "0%"]);
    // re-colouring follows the display's colour map, in the browser only
    const before = canvasPixels(canvases[0]);
    const sent = model.sent.length;
    const colormap = q(el, "iw-colormap") as HTMLSelectElement;
    colormap.value = "magma";
    colormap.dispatchEvent(new Event("change"));
    expect(canvasPixels(canvases[0])).not.toEqual(before);
    expect(model.sent.length).toBe(sent);
  });
});
