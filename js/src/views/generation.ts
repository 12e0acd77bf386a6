// The generation view (spec.kind "llm"): prompt, Generate, target, method and options; the
// output-tokens x input-tokens matrix with the sequence row, filled row chunk by row chunk as
// the kernel sends them; and the prompt coloured by the output token under the pointer (or
// clicked, which pins it). Tokens are inserted as text (escaped), values shown on hover.

import { cssColor, isLight, rgbOf } from "../colormap";
import { DEFAULT_DISPLAY } from "../choices";
import { argumentForm, button, labelled, parseArgument, select } from "../controls";
import { matrixOf, type Draft, type Matrix } from "../generation";
import { pooledScale } from "../normalize";
import type { Shared } from "../shared";
import { saveButton, statusParts, type StatusParts } from "../status";
import type { ArgumentSchema, DisplayOptions, LLMSpec } from "../types";
import { element, formatNumber } from "./view";

const STATIC_NOTE = "Static export: the attribution is shown as computed; generating and attributing need a running kernel.";

function paint(cell: HTMLElement, value: number, options: DisplayOptions, scale: number): void {
  const [r, g, b] = rgbOf(value, options, scale);
  cell.style.background = `rgb(${r}, ${g}, ${b})`;
  cell.style.color = isLight(r, g, b) ? "#111" : "#fff";
}

function numberField(schema: ArgumentSchema, value: number, testid: string): HTMLInputElement {
  const input = element("input", "iw-input");
  input.type = "number";
  input.step = "1";
  if (schema.min !== undefined) input.min = String(schema.min);
  if (schema.max !== undefined) input.max = String(schema.max);
  input.value = String(value);
  input.dataset.testid = testid;
  return input;
}

export class GenerationView {
  readonly root: HTMLElement;
  private status: StatusParts;
  private cleanups: (() => void)[] = [];
  private matrixBox = element("div", "iw-llm-matrix-box");
  private promptBox = element("div", "iw-llm-colored");
  private summary = element("div", "iw-note iw-llm-summary");
  /** the output row shown on the prompt: pinned by a click, else the one under the pointer */
  private pinned: number | null = null;
  private hovered: number | null = null;
  private matrix: Matrix = { inputTokens: [], outputTokens: [], rows: [], probs: [], seq: null };
  private syncControls: () => void = () => {};

  constructor(private shared: Shared, el: HTMLElement) {
    this.root = element("div", "insight-widget iw-llm");
    this.root.dataset.testid = "iw-root";
    this.status = statusParts(shared, this.root, STATIC_NOTE);
    el.append(this.root);
    this.build();
    this.listen();
  }

  private get llm(): LLMSpec {
    return this.shared.spec.llm!;
  }

  private update(change: Partial<Draft>): void {
    this.shared.generation.update(change, this);
  }

  // -- controls --------------------------------------------------------------------------------
  private build(): void {
    const { shared } = this;
    const { generation, choices } = shared;
    const draft = () => generation.draft;

    const picker = select([{ value: "", label: "(edit below)" }, ...this.llm.prompts.map((p) => ({ value: p, label: p }))], "", "iw-llm-prompt-pick");
    picker.addEventListener("change", () => {
      if (!picker.value) return;
      this.update({ prompt: picker.value, target: "" });
      prompt.value = picker.value;
    });
    const prompt = element("textarea", "iw-llm-prompt");
    prompt.dataset.testid = "iw-llm-prompt";
    prompt.rows = 2;
    prompt.placeholder = "prompt (granularity 'segments': cut it with |)";
    prompt.addEventListener("input", () => this.update({ prompt: prompt.value }));

    const maxNew = numberField(this.llm.max_new_tokens, draft().max_new_tokens, "iw-llm-max-new-tokens");
    maxNew.addEventListener("change", () => this.update({ max_new_tokens: Number(parseArgument(this.llm.max_new_tokens, maxNew.value) ?? 1) }));
    const generate = button("Generate", "iw-llm-generate", "iw-button");
    generate.title = "continue the prompt greedily (max new tokens) into the target";
    generate.addEventListener("click", () => shared.generate());
    const target = element("input", "iw-input iw-llm-target");
    target.type = "text";
    target.dataset.testid = "iw-llm-target";
    target.placeholder = "target (empty: generated first)";
    target.addEventListener("input", () => this.update({ target: target.value }));

    const method = select(shared.spec.methods.map((m) => ({ value: m.name, label: `${m.name} · ${m.family.split(" ")[0]}` })), choices.method, "iw-method");
    const argsBox = element("div", "iw-args-box");
    const renderArguments = () => {
      argsBox.replaceChildren(argumentForm(choices.methodSchema, shared.spec, choices.arguments, (values) => {
        choices.update("attribution", () => (choices.argumentsByMethod[choices.method] = values), this);
      }));
    };
    method.addEventListener("change", () => {
      choices.update("attribution", () => (choices.method = method.value), this);
      renderArguments();
    });
    const option = (values: string[], key: "granularity" | "baseline" | "attr_target", testid: string) => {
      const field = select(values.map((v) => ({ value: v, label: v.replace("_", " ") })), draft()[key], testid);
      field.addEventListener("change", () => this.update({ [key]: field.value }));
      return field;
    };
    const granularity = option(this.llm.granularities, "granularity", "iw-llm-granularity");
    const baseline = option(this.llm.baselines, "baseline", "iw-llm-baseline");
    const attrTarget = option(this.llm.attr_targets, "attr_target", "iw-llm-attr-target");
    const baselineText = element("input", "iw-input");
    baselineText.type = "text";
    baselineText.dataset.testid = "iw-llm-baseline-text";
    baselineText.placeholder = "baseline text";
    baselineText.addEventListener("input", () => this.update({ baseline_text: baselineText.value }));
    const chunk = numberField(this.llm.rows_per_chunk, draft().rows_per_chunk, "iw-llm-rows-per-chunk");
    chunk.addEventListener("change", () => this.update({ rows_per_chunk: Number(parseArgument(this.llm.rows_per_chunk, chunk.value) ?? 0) }));
    const attribute = button("Attribute", "iw-llm-attribute", "iw-button iw-primary");
    attribute.addEventListener("click", () => shared.attributeGeneration());
    for (const control of [generate, attribute]) control.disabled = shared.isStatic;

    const promptRow = element("div", "iw-llm-row");
    promptRow.append(labelled("prompts", picker), labelled("prompt", prompt));
    const targetRow = element("div", "iw-llm-row");
    targetRow.append(labelled("max new tokens", maxNew, this.llm.max_new_tokens.help), generate, labelled("target", target, "the continuation attributed (tokens without special tokens)"));
    const methodRow = element("div", "iw-llm-row");
    methodRow.append(
      labelled("method", method), argsBox,
      labelled("granularity", granularity, "features: tokens, whitespace-separated words, or segments cut with |"),
      labelled("baseline", baseline, "replacement of an absent feature: pad or unk token, or the text typed (tokens: one token; words/segments: one text for all or one per feature separated by |, alternatives separated by / drawn like ProductBaselines)"),
      labelled("baseline text", baselineText), labelled("explain", attrTarget, "log-probability or probability of the target"),
      labelled("rows per chunk", chunk, this.llm.rows_per_chunk.help),
    );
    const bar = element("div", "iw-bar-row");
    bar.append(attribute, this.status.statusBox, saveButton(shared));
    const controls = element("div", "iw-llm-controls");
    controls.append(promptRow, targetRow, methodRow);
    this.root.append(controls, bar, this.status.progressBox, this.summary, this.promptBox, this.matrixBox);
    if (shared.isStatic) this.root.classList.add("iw-static");

    this.syncControls = () => {
      const d = draft();
      if (prompt.value !== d.prompt) prompt.value = d.prompt;
      if (target.value !== d.target) target.value = d.target;
      granularity.value = d.granularity;
      baseline.value = d.baseline;
      attrTarget.value = d.attr_target;
      if (baselineText.value !== d.baseline_text) baselineText.value = d.baseline_text;
      maxNew.value = String(d.max_new_tokens);
      chunk.value = String(d.rows_per_chunk);
      method.value = choices.method;
    };
    this.syncControls();
    renderArguments();
    this.status.renderProgress();
    this.status.renderStatus();
    this.renderRecord();
  }

  private listen(): void {
    const { store, generation, choices } = this.shared;
    this.cleanups.push(
      store.subscribe((what) => (what === "progress" ? this.status.renderProgress() : what === "status" ? this.status.renderStatus() : undefined)),
      generation.subscribe((what, source) => {
        if (what === "record") this.renderRecord();
        else if (source !== this) this.syncControls();
      }),
      choices.subscribe((_what, source) => {
        if (source !== this) this.syncControls();
      }),
    );
  }

  // -- the result ------------------------------------------------------------------------------
  private renderRecord(): void {
    const record = this.shared.generation.record;
    this.matrix = matrixOf(record);
    const { inputTokens, outputTokens, rows, probs, seq } = this.matrix;
    const options = DEFAULT_DISPLAY;
    const computed = rows.filter((r): r is Float32Array => Boolean(r));
    const scale = pooledScale(computed.length ? computed : seq ? [seq] : [], options.sign);
    const seqScale = seq ? pooledScale([seq], options.sign) : 0;
    this.summary.textContent = record.method
      ? `${record.method} · ${record.attr_target === "prob" ? "probability" : "log-probability"} of the target · ` +
        `${record.sequence_only ? `sequence only (${outputTokens.length} target tokens)` : `${computed.length} of ${outputTokens.length || "?"} rows`}${record.seconds !== undefined ? ` · ${record.seconds} s` : ""}`
      : this.shared.isStatic ? "" : "Generate or type a target, then Attribute.";
    if (!inputTokens.length) {
      this.matrixBox.replaceChildren();
      this.promptBox.replaceChildren();
      return;
    }
    const table = element("table", "iw-token-matrix");
    table.dataset.testid = "iw-token-matrix";
    const head = element("tr");
    head.append(element("th", "iw-corner", "output \\ input"));
    for (const token of inputTokens) {
      const th = element("th", "iw-input-token", token);
      th.dataset.testid = "iw-input-token";
      head.append(th);
    }
    table.append(head);
    // Lime and Kernel Shap explain the whole target only: no per-token rows to wait for
    const tokenRows = record.sequence_only ? [] : outputTokens;
    tokenRows.forEach((token, r) => {
      const tr = element("tr", "iw-llm-output-row");
      const th = element("th", "iw-output-token", token);
      th.dataset.testid = "iw-output-token";
      th.dataset.row = String(r);
      const p = probs[r];
      th.title = p === undefined ? token : `${token}: p = ${formatNumber(p)} (log p = ${formatNumber(Math.log(p))})`;
      tr.append(th);
      const row = rows[r];
      inputTokens.forEach((input, c) => {
        const td = element("td", "iw-llm-cell");
        if (row) {
          td.textContent = formatNumber(row[c]);
          td.title = `${token} ← ${input}: ${formatNumber(row[c])}`;
          td.dataset.value = String(row[c]);
          paint(td, row[c], options, scale);
        } else {
          td.classList.add("iw-llm-pending");
        }
        tr.append(td);
      });
      if (!row) tr.classList.add("iw-busy");
      tr.addEventListener("mouseenter", () => this.point(r));
      tr.addEventListener("mouseleave", () => this.point(null));
      th.addEventListener("click", () => {
        this.pinned = this.pinned === r ? null : r;
        this.renderPrompt();
      });
      table.append(tr);
    });
    if (seq) {
      const tr = element("tr", "iw-seq-row");
      tr.dataset.testid = "iw-seq-attr";
      const th = element("th", "iw-output-token", "sequence");
      th.title = "attribution of the whole target";
      tr.append(th);
      inputTokens.forEach((input, c) => {
        const td = element("td", "iw-llm-cell", formatNumber(seq[c]));
        td.title = `sequence ← ${input}: ${formatNumber(seq[c])}`;
        td.dataset.value = String(seq[c]);
        paint(td, seq[c], options, seqScale);
        tr.append(td);
      });
      tr.addEventListener("mouseenter", () => this.point(-1));
      tr.addEventListener("mouseleave", () => this.point(null));
      table.append(tr);
    }
    this.matrixBox.replaceChildren(table);
    this.renderPrompt();
  }

  private point(row: number | null): void {
    this.hovered = row;
    this.renderPrompt();
  }

  /** The prompt coloured by the row shown (-1: the sequence row). */
  private renderPrompt(): void {
    const { inputTokens, outputTokens, rows, seq } = this.matrix;
    const shown = this.hovered ?? this.pinned ?? (seq ? -1 : null);
    const values = shown === -1 ? seq : shown === null ? null : rows[shown] ?? null;
    this.matrixBox.querySelectorAll(".iw-output-token").forEach((th) => {
      th.classList.toggle("iw-pinned", (th as HTMLElement).dataset.row === String(this.pinned));
    });
    const title = element("div", "iw-field-label", values ? `prompt coloured by ${shown === -1 ? "the whole target" : `“${outputTokens[shown!]}”`}${this.pinned !== null ? " (pinned: click it again to release)" : ""}` : "prompt");
    const text = element("div", "iw-text");
    text.dataset.testid = "iw-llm-colored";
    const scale = values ? pooledScale([values], DEFAULT_DISPLAY.sign) : 0;
    inputTokens.forEach((token, i) => {
      const span = element("span", "iw-token", token);
      if (values) {
        span.style.background = cssColor(values[i], DEFAULT_DISPLAY, scale);
        paint(span, values[i], DEFAULT_DISPLAY, scale);
        span.title = `${token}: ${formatNumber(values[i])}`;
        span.dataset.value = String(values[i]);
      }
      text.append(span, document.createTextNode(" "));
    });
    this.promptBox.replaceChildren(title, text);
  }

  observe(_el: HTMLElement): void {}

  destroy(): void {
    this.cleanups.forEach((cleanup) => cleanup());
    this.cleanups = [];
    this.root.remove();
  }
}
