// Form controls generated from the method schemas that Python sends.

import type { ArgumentSchema, MethodSchema, Spec } from "./types";
import { element } from "./views/view";

export function labelled(text: string, control: HTMLElement, help = ""): HTMLElement {
  const label = element("label", "iw-field");
  label.append(element("span", "iw-field-label", text), control);
  if (help) label.title = help;
  return label;
}

export function select(options: { value: string; label: string }[], value: string, testid: string): HTMLSelectElement {
  const el = element("select", "iw-select");
  el.dataset.testid = testid;
  for (const option of options) {
    const item = element("option", "", option.label);
    item.value = option.value;
    el.append(item);
  }
  el.value = value;
  return el;
}

export function button(text: string, testid: string, className = "iw-button"): HTMLButtonElement {
  const el = element("button", className, text);
  el.type = "button";
  if (testid) el.dataset.testid = testid;
  return el;
}

export function checkbox(checked: boolean, testid: string): HTMLInputElement {
  const el = element("input", "iw-check");
  el.type = "checkbox";
  el.checked = checked;
  el.dataset.testid = testid;
  return el;
}

/** Parse a form field's text into the argument's value (validated again in Python). */
export function parseArgument(schema: ArgumentSchema, raw: string | boolean): unknown {
  if (schema.kind === "bool") return Boolean(raw);
  if (schema.kind === "int" || schema.kind === "neuron") return raw === "" ? null : Number.parseInt(String(raw), 10);
  if (schema.kind === "float") return raw === "" ? null : Number.parseFloat(String(raw));
  return raw;
}

/**
 * The argument form of ``method``: one field per argument (``iw-arg-<name>``; layer choices
 * get one select per model, ``iw-arg-layer`` then ``iw-arg-layer-1``...). ``onChange`` gets
 * the full set of current values.
 */
export function argumentForm(
  method: MethodSchema,
  spec: Spec,
  values: Record<string, unknown>,
  onChange: (values: Record<string, unknown>) => void,
): HTMLElement {
  const form = element("div", "iw-args");
  const current: Record<string, unknown> = { ...values };
  for (const schema of method.arguments) {
    const value = schema.name in current ? current[schema.name] : schema.default;
    current[schema.name] = value;
    const label = schema.label || schema.name;
    if (schema.kind === "layer") {
      const chosen = Array.isArray(value) ? (value as string[]) : [];
      spec.layers.forEach((layers, m) => {
        const field = select(
          layers.choices.map((c) => ({ value: c, label: c })),
          chosen[m] ?? layers.default ?? layers.choices[0] ?? "",
          m === 0 ? "iw-arg-layer" : `iw-arg-layer-${m}`,
        );
        field.addEventListener("change", () => {
          const next = spec.layers.map((l, k) => (k === m ? field.value : chosen[k] ?? l.default));
          current.layer = next;
          onChange({ ...current });
        });
        form.append(labelled(spec.layers.length > 1 ? `${label} (model ${m})` : label, field, schema.help));
      });
      continue;
    }
    let field: HTMLInputElement | HTMLSelectElement;
    if (schema.kind === "enum") {
      field = select((schema.choices ?? []).map((c) => ({ value: c, label: c })), String(value), `iw-arg-${schema.name}`);
    } else if (schema.kind === "bool") {
      field = checkbox(Boolean(value), `iw-arg-${schema.name}`);
    } else {
      const input = element("input", "iw-input");
      input.type = "number";
      input.dataset.testid = `iw-arg-${schema.name}`;
      if (schema.min !== undefined) input.min = String(schema.min);
      if (schema.max !== undefined) input.max = String(schema.max);
      input.step = schema.kind === "float" ? "any" : "1";
      input.value = value == null ? "" : String(value);
      if (schema.optional) input.placeholder = "auto";
      field = input;
    }
    field.addEventListener("change", () => {
      const raw = field instanceof HTMLInputElement && field.type === "checkbox" ? field.checked : field.value;
      current[schema.name] = parseArgument(schema, raw);
      onChange({ ...current });
    });
    form.append(labelled(label, field, schema.help));
  }
  return form;
}
