// The per-example quality panel: request, streamed parts drawn from binary buffers, cancel,
// errors next to the example, and staleness once the map changes.
import { afterEach, describe, expect, it } from "vitest";
import { curvePoints, PLOT_HEIGHT, PLOT_WIDTH } from "../src/views/quality";
import { canvasPixels, FakeModel, float32, imageExample, mount, openWidget, spec } from "./fake";

let cleanups: (() => void)[] = [];
afterEach(() => {
  cleanups.forEach((c) => c());
  cleanups = [];
  document.body.replaceChildren();
});

function setup(state: Record<string, any> = {}, isStatic = false) {
  const model = new FakeModel({ spec: spec(), examples: [imageExample(0), imageExample(1)], settings: {}, status: {}, ...state });
  if (isStatic) model.static = true;
  const el = mount(model);
  const widget = openWidget(model);
  cleanups.push(widget.render(el), widget.close);
  return { model, el };
}

const q = <T extends HTMLElement = HTMLElement>(el: ParentNode, id: string) => el.querySelector<T>(`[data-testid="${id}"]`);

/** A "quality" reply as anywidget delivers it: the curve's bytes in a separate buffer. */
function part(id: string, name: string, value: number | null, curve?: number[], error?: string) {
  const content: any = { type: "quality", id, example: 1, model: 0, method: "Integrated Gradients", compare: false, part: name, value, error: error ?? null, buffer_paths: [] };
  const buffers: DataView[] = [];
  if (curve) {
    const wire = float32(curve, [curve.length]);
    buffers.push(wire.data as DataView);
    content.curve = { ...wire, data: null };
    content.buffer_paths = [["curve", "data"]];
  }
  return [content, buffers] as const;
}

describe("quality panel", () => {
  it("asks for the shown map of one example, then fills in each part as it streams", () => {
    const { model, el } = setup();
    const card = el.querySelectorAll<HTMLElement>('[data-testid="iw-example"]')[1];
    q(card, "iw-quality")!.click();
    const request = model.sent.at(-1);
    expect(request).toMatchObject({ type: "quality", example: 1, model: 0, target: 0, compare: false, settings: { method: "Integrated Gradients" } });
    const panel = () => q(card, "iw-quality-panel")!;
    expect(panel().dataset.state).toBe("running");
    expect(el.querySelector(".iw-examples")!.getAttribute("aria-busy")).toBe("true");
    expect(q(panel(), "iw-quality-deletion")!.textContent).toBe("…");
    expect(q(el.querySelectorAll<HTMLElement>('[data-testid="iw-example"]')[0], "iw-quality-panel")).toBeNull();
    model.reply(...part(request.id, "deletion", 0.25, [0.9, 0.3, 0.1]));
    expect(q(panel(), "iw-quality-deletion")!.textContent).toBe("0.250");
    const plot = q<HTMLCanvasElement>(panel(), "iw-quality-plot")!;
    expect(canvasPixels(plot).some((v, i) => i % 4 === 3 && v > 0)).toBe(true); // a line was drawn
    model.reply(...part(request.id, "insertion", 0.75, [0.1, 0.8, 0.9]));
    model.reply(...part(request.id, "infidelity", 0.0123));
    model.reply(...part(request.id, "sensitivity", 1.5));
    expect(["deletion", "insertion", "infidelity", "sensitivity"].map((p) => q(panel(), `iw-quality-${p}`)!.textContent)).toEqual(["0.250", "0.750", "0.012", "1.500"]);
    expect(q(panel(), "iw-quality-cancel")).not.toBeNull();
    model.reply({ type: "done", id: request.id, state: "complete", message: "", buffer_paths: [] });
    expect(panel().dataset.state).toBe("complete");
    expect(q(panel(), "iw-quality-cancel")).toBeNull();
    expect(q(el, "iw-progress")!.closest(".iw-hidden")).not.toBeNull();
    expect(el.querySelector(".iw-examples")!.getAttribute("aria-busy")).toBe("false");
  });

  it("measures the compared method's map from its own button", () => {
    const second = { ...imageExample(1).models[0], method: "Saliency", delta: null };
    const { model, el } = setup({ examples: [{ ...imageExample(1), compare: [second] }] });
    const buttons = el.querySelectorAll<HTMLElement>('[data-testid="iw-quality"]');
    expect(buttons.length).toBe(2);
    buttons[1].click();
    expect(model.sent.at(-1)).toMatchObject({ type: "quality", example: 1, model: 0, compare: true });
    const slots = el.querySelectorAll<HTMLElement>('[data-testid="iw-quality-slot"]');
    expect([slots[0].childElementCount, slots[1].childElementCount]).toEqual([0, 1]);
  });

  it("plots a curve from left to right over the fractions, higher scores higher", () => {
    const points = curvePoints(new Float32Array([1, 0.5, 0]), PLOT_WIDTH, PLOT_HEIGHT, 0, 1);
    expect(points.map(([x]) => x)).toEqual([0, (PLOT_WIDTH - 1) / 2, PLOT_WIDTH - 1]);
    expect(points.map(([, y]) => y)).toEqual([0, (PLOT_HEIGHT - 1) / 2, PLOT_HEIGHT - 1]);
  });

  it("cancels only its own request and shows errors next to the example", () => {
    const { model, el } = setup();
    const card = el.querySelectorAll<HTMLElement>('[data-testid="iw-example"]')[1];
    q(card, "iw-quality")!.click();
    const request = model.sent.at(-1);
    model.reply(...part(request.id, "deletion", null, undefined, "RuntimeError: no curve"));
    const value = q(card, "iw-quality-deletion")!;
    expect([value.textContent, value.getAttribute("role")]).toEqual(["RuntimeError: no curve", "alert"]);
    q(card, "iw-quality-cancel")!.click();
    expect(model.sent.at(-1)).toMatchObject({ type: "cancel", request: request.id });
    model.reply({ type: "done", id: request.id, state: "cancelled", message: "Cancelled.", buffer_paths: [] });
    expect(q(card, "iw-quality-panel")!.textContent).toContain("Cancelled.");
    q(card, "iw-quality")!.click();
    const again = model.sent.at(-1);
    model.reply({ type: "done", id: again.id, state: "error", message: "ValueError: choose an input method", buffer_paths: [] });
    expect(q(q(card, "iw-quality-panel")!, "iw-error")!.textContent).toBe("ValueError: choose an input method");
    // a late part of the earlier request changes nothing
    model.reply(...part(request.id, "insertion", 0.5));
    expect(q(card, "iw-quality-insertion")!.textContent).toBe("–");
  });

  it("is cleared when the example's map changes, and absent from static exports", () => {
    const { model, el } = setup();
    q(el.querySelectorAll<HTMLElement>('[data-testid="iw-example"]')[1], "iw-quality")!.click();
    const request = model.sent.at(-1);
    model.reply(...part(request.id, "infidelity", 0.5));
    expect(q(el, "iw-quality-panel")).not.toBeNull();
    const changed = { ...imageExample(1).models[0], target: 1 };
    model.reply({ type: "result", id: "r", example: 1, model: 0, result: changed, compare: null, buffer_paths: [] });
    expect(q(el, "iw-quality-panel")).toBeNull();
    document.body.replaceChildren();
    const exported = setup({}, true);
    expect(q(exported.el, "iw-quality")).toBeNull();
  });
});
