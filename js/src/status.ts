// Progress (bar, label, Cancel) and status (note or error) of a view, drawn from the Store;
// shared by the classifier view (app.ts) and the generation view (views/generation.ts).

import { button } from "./controls";
import type { Shared } from "./shared";
import { element } from "./views/view";

export interface StatusParts {
  progressBox: HTMLElement;
  statusBox: HTMLElement;
  renderProgress(): void;
  renderStatus(): void;
}

export function download(text: string, name: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "text/html" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A "Save HTML" button: downloads a self-contained page of what is shown. */
export function saveButton(shared: Shared): HTMLButtonElement {
  const save = button("Save HTML", "iw-export", "iw-button iw-secondary iw-export");
  save.title = "download a self-contained page of what is shown (re-colouring works offline)";
  save.addEventListener("click", () => shared.exportPage((html) => download(html, "insight_widget.html")));
  return save;
}

/** ``root`` gets ``data-busy`` while a request runs; ``staticNote`` is shown in exports. */
export function statusParts(shared: Shared, root: HTMLElement, staticNote: string): StatusParts {
  const progressBox = element("div", "iw-progress-box");
  const progressBar = element("progress", "iw-progress");
  const progressLabel = element("span", "iw-progress-label");
  const statusBox = element("div", "iw-status");
  progressBar.dataset.testid = "iw-progress";
  progressBar.max = 1;
  const cancel = button("Cancel", "iw-cancel", "iw-button iw-secondary");
  cancel.addEventListener("click", () => shared.cancel());
  progressBox.append(progressBar, progressLabel, cancel);
  statusBox.dataset.testid = "iw-status";
  return {
    progressBox,
    statusBox,
    renderProgress() {
      const { store } = shared;
      const running = store.running.size > 0;
      progressBox.classList.toggle("iw-hidden", !running);
      progressBar.value = store.progress?.fraction ?? 0;
      progressLabel.textContent = store.progress?.label ?? "";
      root.dataset.busy = running ? "true" : "false";
    },
    renderStatus() {
      const status = shared.store.status ?? {};
      statusBox.replaceChildren();
      if (shared.isStatic) {
        statusBox.append(element("div", "iw-note", staticNote));
        return;
      }
      if (status.state === "error") {
        const error = element("div", "iw-error", status.message ?? "error");
        error.dataset.testid = "iw-error";
        statusBox.append(error);
      } else if (status.message && status.state !== "superseded") {
        statusBox.append(element("div", "iw-note", status.message));
      }
    },
  };
}
