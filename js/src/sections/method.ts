// "Attribution": the method, the method compared side by side, and the method's arguments.

import { argumentForm, labelled, select } from "../controls";
import type { MethodSchema } from "../types";
import { element } from "../views/view";
import { sectionBox, type Section, type SectionContext } from "./section";

export function methodSection({ shared, view }: SectionContext): Section {
  const { choices, spec } = shared;
  const { el, body } = sectionBox("Attribution", "iw-section-method");
  const families = new Map<string, MethodSchema[]>();
  for (const m of spec.methods) families.set(m.family, [...(families.get(m.family) ?? []), m]);
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
  const compare = select(
    [{ value: "", label: "none" }, ...spec.methods.map((m) => ({ value: m.name, label: m.name }))],
    choices.compare, "iw-compare");
  const argsBox = element("div", "iw-args-box");
  // the form is rebuilt only when its method or values changed elsewhere (not while typing here)
  let formFor: [string, Record<string, unknown>] | null = null;
  const renderArguments = () => {
    if (formFor && formFor[0] === choices.method && formFor[1] === choices.arguments) return;
    formFor = [choices.method, choices.arguments];
    argsBox.replaceChildren(argumentForm(choices.methodSchema, spec, choices.arguments, (values) => {
      choices.update("attribution", () => {
        choices.argumentsByMethod[choices.method] = values;
        formFor = [choices.method, values];
      }, view);
    }));
  };
  picker.addEventListener("change", () => {
    choices.update("attribution", () => (choices.method = picker.value), view);
    renderArguments();
  });
  compare.addEventListener("change", () => choices.update("attribution", () => (choices.compare = compare.value), view));
  body.append(labelled("method", picker), labelled("compare with", compare, "a second method shown side by side (its arguments: as last set, else defaults)"), argsBox);
  const sync = () => {
    picker.value = choices.method;
    compare.value = choices.compare;
    renderArguments();
  };
  sync();
  return { el, body, sync };
}
