// "Speed": opt-in bfloat16 autocast and channels-last (insight_widget.attr.speed). Changing one
// recomputes; the first map of each request carries the attribution error the options cause,
// measured against full precision, which the card shows.

import { checkbox, labelled } from "../controls";
import type { SpeedSettings } from "../types";
import { sectionBox, type Section, type SectionContext } from "./section";

const OPTIONS: { name: keyof SpeedSettings; label: string; help: string; testid: string }[] = [
  { name: "autocast", label: "bfloat16 autocast", help: "run the model under torch.autocast in bfloat16: faster on many CPUs and GPUs, less exact (the error is measured and shown on the first map)", testid: "iw-autocast" },
  { name: "channels_last", label: "channels-last", help: "pass images in channels-last memory layout: convolutions often run faster on CPU", testid: "iw-channels-last" },
];

export function speedSection({ shared, view }: SectionContext): Section {
  const { choices } = shared;
  const { el, body } = sectionBox("Speed", "iw-section-speed");
  el.open = false; // opt-in settings: closed until wanted
  const boxes = OPTIONS.map((option) => {
    const box = checkbox(choices.speed[option.name], option.testid);
    box.addEventListener("change", () => choices.update("attribution", () => (choices.speed = { ...choices.speed, [option.name]: box.checked }), view));
    body.append(labelled(option.label, box, option.help));
    return box;
  });
  const sync = () => OPTIONS.forEach((option, i) => (boxes[i].checked = choices.speed[option.name]));
  return { el, body, sync };
}
