// "Inputs": per input feature, its baseline, whether it is attributed, whether it is shown.

import { checkbox, labelled, select } from "../controls";
import { element } from "../views/view";
import { sectionBox, type Section, type SectionContext } from "./section";

export function inputsSection({ shared, view }: SectionContext): Section {
  const { choices, spec } = shared;
  const { el, body } = sectionBox("Inputs", "iw-section-inputs");
  const syncs: (() => void)[] = [];
  spec.features.forEach((feature, i) => {
    const row = element("div", "iw-input-row");
    row.append(element("span", "iw-feature-name", `${feature.name} (${feature.type})`));
    const baseline = select(feature.baselines.map((b) => ({ value: b, label: b })), choices.baselines[i], `iw-baseline-${i}`);
    baseline.addEventListener("change", () => choices.update("attribution", () => (choices.baselines[i] = baseline.value), view));
    const active = checkbox(choices.active[i], `iw-active-${i}`);
    active.addEventListener("change", () => choices.update("attribution", () => (choices.active[i] = active.checked), view));
    const shown = checkbox(choices.shown[i], `iw-shown-${i}`);
    shown.addEventListener("change", () => choices.update("shown", () => (choices.shown[i] = shown.checked), view));
    row.append(labelled("baseline", baseline), labelled("attributed", active, "off: held fixed at its input value"), labelled("shown", shown));
    body.append(row);
    syncs.push(() => {
      baseline.value = choices.baselines[i];
      active.checked = choices.active[i];
      shown.checked = choices.shown[i];
    });
  });
  return { el, body, sync: () => syncs.forEach((sync) => sync()) };
}
