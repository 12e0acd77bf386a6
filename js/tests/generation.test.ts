import { afterEach, describe, expect, it } from "vitest";
import { FakeModel, float32, mount, openWidget, spec } from "./fake";
import type { Spec } from "../src/types";

let cleanups: (() => void)[] = [];
afterEach(() => {
  cleanups.forEach((c) => c());
  cleanups = [];
  document.body.replaceChildren();
});

function llmSpec(): Spec {
  const number = (name: string, value: number, min: number) => ({ name, kind: "int" as const, default: value, label: name, help: "", optional: false, min, max: 256 });
  return spec({
    kind: "llm",
    classes: [],
    features: [],
    layers: [],
    methods: [
      { name: "Feature Ablation", family: "perturbation (LLMAttribution)", output: "input", target: true, baselines: "single", help: "", has_delta: false, arguments: [] },
      { name: "Layer Integrated Gradients", family: "gradient (LLMGradientAttribution)", output: "input", target: true, baselines: "single", help: "", has_delta: false, arguments: [number("n_steps", 25, 2)] },
    ],
    llm: {
      prompts: ["the capital of france is", "<b>bold</b> prompt"],
      default_max_new_tokens: 8,
      granularities: ["tokens", "words", "segments"],
      baselines: ["pad", "unk", "text"],
      attr_targets: ["log_prob", "prob"],
      max_new_tokens: number("max_new_tokens", 8, 1),
      rows_per_chunk: number("rows_per_chunk", 0, 0),
    },
  });
}

function setup(state: Record<string, any> = {}) {
  const model = new FakeModel({ spec: llmSpec(), examples: [], settings: {}, status: {}, generation: {}, ...state });
  const el = mount(model);
  const widget = openWidget(model);
  cleanups.push(widget.render(el), widget.close);
  return { model, el };
}

const q = (el: HTMLElement, id: string) => el.querySelector<HTMLElement>(`[data-testid="${id}"]`)!;
const all = (el: HTMLElement, id: string) => Array.from(el.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`));
const INFO = { prompt: "the capital of france is", target: "paris .", method: "Feature Ablation", arguments: {}, granularity: "tokens", baseline: "pad", baseline_text: "", attr_target: "log_prob" };
const INPUTS = ["the", "capital", "of", "<i>france</i>", "is"];

function rows(id: string, start: number, values: number[][], tokens: string[]) {
  return { type: "llm_rows", id, start, rows: float32(values.flat(), [values.length, 5]), output_tokens: tokens, input_tokens: INPUTS, probs: float32(values.map(() => 0.5), [values.length]), buffer_paths: [] };
}

describe("the generation view", () => {
  it("opens with the first prompt, generates into the target and sends the attribution settings", () => {
    const { model, el } = setup();
    expect((q(el, "iw-llm-prompt") as HTMLTextAreaElement).value).toBe("the capital of france is");
    q(el, "iw-llm-generate").click();
    const generate = model.sent.at(-1);
    expect(generate).toMatchObject({ type: "generate", prompt: "the capital of france is", max_new_tokens: 8 });
    model.reply({ type: "generated", id: generate.id, prompt: generate.prompt, target: "paris .", buffer_paths: [] });
    expect((q(el, "iw-llm-target") as HTMLInputElement).value).toBe("paris .");
    const method = q(el, "iw-method") as HTMLSelectElement;
    method.value = "Layer Integrated Gradients";
    method.dispatchEvent(new Event("change"));
    (q(el, "iw-arg-n_steps") as HTMLInputElement).value = "7";
    q(el, "iw-arg-n_steps").dispatchEvent(new Event("change"));
    const granularity = q(el, "iw-llm-granularity") as HTMLSelectElement;
    granularity.value = "words";
    granularity.dispatchEvent(new Event("change"));
    expect(model.sent.length).toBe(1); // choices alone never start an attribution
    q(el, "iw-llm-attribute").click();
    expect(model.sent.at(-1)).toMatchObject({ type: "attribute", settings: { method: "Layer Integrated Gradients", arguments: { n_steps: 7 }, prompt: "the capital of france is", target: "paris .", granularity: "words", baseline: "pad", attr_target: "log_prob", rows_per_chunk: 0 } });
  });

  it("fills the matrix row chunk by row chunk, then the sequence row; tokens are escaped text", () => {
    const { model, el } = setup();
    q(el, "iw-llm-attribute").click();
    const { id } = model.sent.at(-1);
    model.reply({ type: "llm_started", id, ...INFO, buffer_paths: [] });
    model.reply({ type: "progress", id, fraction: 0.5, label: "half", buffer_paths: [] });
    expect(q(el, "iw-progress").closest(".iw-hidden")).toBeNull();
    model.reply(rows(id, 0, [[0, 0, 0, 4, 1]], ["paris"]));
    expect(all(el, "iw-input-token").map((t) => t.textContent)).toEqual(INPUTS);
    expect(el.querySelector("i")).toBeNull(); // "<i>france</i>" is text, not markup
    expect(all(el, "iw-output-token").map((t) => t.textContent)).toEqual(["paris"]);
    model.reply(rows(id, 1, [[1, 0, 0, -2, 0]], ["."]));
    expect(all(el, "iw-output-token").map((t) => t.textContent)).toEqual(["paris", "."]);
    const cells = q(el, "iw-token-matrix").querySelectorAll("tr:nth-child(3) td");
    expect(Array.from(cells).map((c) => Number((c as HTMLElement).dataset.value))).toEqual([1, 0, 0, -2, 0]);
    expect((cells[3] as HTMLElement).title).toContain("-2");
    model.reply({ type: "llm_result", id, record: { ...INFO, input_tokens: INPUTS, output_tokens: ["paris", "."], seq_attr: float32([1, 0, 0, 2, 1], [5]), seconds: 0.1 }, buffer_paths: [] });
    model.reply({ type: "done", id, state: "complete", buffer_paths: [] });
    expect(Array.from(q(el, "iw-seq-attr").querySelectorAll("td")).map((c) => Number(c.dataset.value))).toEqual([1, 0, 0, 2, 1]);
    expect(model.get("generation").chunks.length).toBe(2); // kept locally for new views and saved state
    expect(q(el, "iw-progress").closest(".iw-hidden")).not.toBeNull();
  });

  it("colours the prompt by the output token under the pointer, and pins it on click", () => {
    const { model, el } = setup();
    q(el, "iw-llm-attribute").click();
    const { id } = model.sent.at(-1);
    model.reply({ type: "llm_started", id, ...INFO, buffer_paths: [] });
    model.reply(rows(id, 0, [[0, 0, 0, 4, 0], [-3, 0, 0, 0, 0]], ["paris", "."]));
    const colored = () => Array.from(q(el, "iw-llm-colored").querySelectorAll<HTMLElement>(".iw-token"));
    const [paris, stop] = all(el, "iw-output-token");
    paris.closest("tr")!.dispatchEvent(new Event("mouseenter"));
    expect(colored().map((s) => Number(s.dataset.value))).toEqual([0, 0, 0, 4, 0]);
    stop.click();
    paris.closest("tr")!.dispatchEvent(new Event("mouseleave"));
    expect(colored().map((s) => Number(s.dataset.value))).toEqual([-3, 0, 0, 0, 0]);
    expect(colored()[0].style.background).not.toBe(colored()[1].style.background);
  });

  it("shows only the sequence row for sequence-only methods (Lime, Kernel Shap)", () => {
    const { model, el } = setup();
    q(el, "iw-llm-attribute").click();
    const { id } = model.sent.at(-1);
    model.reply({ type: "llm_started", id, ...INFO, method: "Lime", buffer_paths: [] });
    model.reply({ type: "llm_result", id, record: { ...INFO, method: "Lime", input_tokens: INPUTS, output_tokens: ["paris", "."], seq_attr: float32([0, 0, 0, 2, 1], [5]), sequence_only: true }, buffer_paths: [] });
    expect(all(el, "iw-output-token")).toEqual([]);
    expect(q(el, "iw-seq-attr").querySelectorAll("td").length).toBe(5);
    expect(el.querySelector(".iw-llm-summary")!.textContent).toContain("sequence only");
  });

  it("ignores rows of a superseded request and shows errors", () => {
    const { model, el } = setup();
    q(el, "iw-llm-attribute").click();
    const first = model.sent.at(-1).id;
    q(el, "iw-llm-attribute").click();
    const second = model.sent.at(-1).id;
    model.reply({ type: "llm_started", id: second, ...INFO, buffer_paths: [] });
    model.reply(rows(first, 0, [[9, 9, 9, 9, 9]], ["old"]));
    expect(all(el, "iw-output-token")).toEqual([]);
    model.reply({ type: "done", id: second, state: "error", message: "ValueError: `prompt` must be a non-empty string", buffer_paths: [] });
    expect(q(el, "iw-error").textContent).toContain("`prompt` must be");
  });

  it("a saved page shows the stored record with its controls disabled", () => {
    const model = new FakeModel({ spec: llmSpec(), examples: [], settings: {}, status: {}, generation: { ...INFO, id: "x", input_tokens: INPUTS, output_tokens: ["paris"], chunks: [{ start: 0, rows: float32([0, 0, 0, 1, 0], [1, 5]), output_tokens: ["paris"], input_tokens: INPUTS, probs: null }], seq_attr: float32([0, 0, 0, 1, 0], [5]) } });
    model.static = true;
    const el = mount(model);
    const widget = openWidget(model);
    cleanups.push(widget.render(el), widget.close);
    expect(all(el, "iw-output-token").map((t) => t.textContent)).toEqual(["paris"]);
    expect(q(el, "iw-seq-attr").querySelectorAll("td").length).toBe(5);
    expect((q(el, "iw-llm-generate") as HTMLButtonElement).disabled).toBe(true);
    expect((q(el, "iw-llm-target") as HTMLInputElement).value).toBe("paris .");
  });
});
