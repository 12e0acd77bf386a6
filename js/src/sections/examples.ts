// "Examples": which examples a fetch looks for (predictions, classes, count, scan limit).

import { labelled, select } from "../controls";
import { element } from "../views/view";
import { sectionBox, type Section, type SectionContext } from "./section";

function numberInput(value: number, testid: string, min = 1): HTMLInputElement {
  const input = element("input", "iw-input");
  input.type = "number";
  input.min = String(min);
  input.value = String(value);
  input.dataset.testid = testid;
  return input;
}

export function examplesSection({ shared, view }: SectionContext): Section {
  const { choices, spec } = shared;
  const filters = choices.filters;
  const { el, body } = sectionBox("Examples", "iw-section-examples");
  const update = (change: () => void) => choices.update("filters", change, view);
  const prediction = select(spec.predictions.map((p) => ({ value: p, label: p })), filters.prediction, "iw-filter-prediction");
  prediction.addEventListener("change", () => update(() => (filters.prediction = prediction.value)));
  const search = element("input", "iw-input");
  search.type = "search";
  search.placeholder = "filter classes…";
  search.dataset.testid = "iw-class-search";
  const classes = element("select", "iw-select iw-classes");
  classes.multiple = true;
  classes.size = 3;
  classes.dataset.testid = "iw-filter-classes";
  for (const name of spec.classes) {
    const option = element("option", "", name);
    option.value = name;
    classes.append(option);
  }
  search.addEventListener("input", () => {
    const query = search.value.toLowerCase();
    for (const option of Array.from(classes.options)) option.hidden = !option.value.toLowerCase().includes(query);
  });
  classes.addEventListener("change", () => update(() => (filters.classes = Array.from(classes.selectedOptions).map((o) => o.value))));
  const count = numberInput(filters.num_examples, "iw-num-examples");
  count.max = String(spec.max_examples);
  count.addEventListener("change", () => update(() => (filters.num_examples = Math.max(1, Number.parseInt(count.value, 10) || 4))));
  const scan = numberInput(filters.max_batches ?? 64, "iw-max-batches");
  scan.addEventListener("change", () => update(() => (filters.max_batches = Math.max(1, Number.parseInt(scan.value, 10) || 64))));
  const classBox = element("div", "iw-class-filter");
  classBox.append(search, classes);
  body.append(labelled("predictions", prediction), labelled("classes", classBox, "examples labelled or predicted as these (none = all)"), labelled("count", count), labelled("scan batches", scan, "at most this many batches are read per fetch"));
  const sync = () => {
    prediction.value = filters.prediction;
    for (const option of Array.from(classes.options)) option.selected = filters.classes.includes(option.value);
    count.value = String(filters.num_examples);
    scan.value = String(filters.max_batches ?? 64);
  };
  sync();
  return { el, body, sync };
}
