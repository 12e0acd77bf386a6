// anywidget entry point. The default export is a factory: anywidget calls it once per widget
// model, so ``initialize`` and ``render`` of one widget share its closure. ``initialize`` builds
// what every view shares (Shared: store, choices, the one msg:custom handler) and returns its
// cleanup; ``render`` builds one view and returns the view's cleanup.

import "./styles.css";
import { view } from "./placement";
import { Shared } from "./shared";
import type { WidgetModel } from "./types";

interface WidgetDefinition {
  initialize(context: { model: WidgetModel }): () => void;
  render(context: { model: WidgetModel; el: HTMLElement }): () => void;
}

export default function widget(): WidgetDefinition {
  let shared: Shared | null = null;
  return {
    initialize({ model }) {
      shared = new Shared(model);
      return () => {
        shared?.destroy();
        shared = null;
      };
    },
    render({ model, el }) {
      // a host that skips initialize still gets one Shared per widget
      shared ??= new Shared(model);
      return view(shared, el);
    },
  };
}
