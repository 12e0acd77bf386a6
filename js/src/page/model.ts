// A page-local stand-in for anywidget's model: the embedded traits, change and message
// listeners, and ``send`` through the page's transport.

import type { CustomMessageHandler, FrontendMessage, WidgetModel, WidgetState } from "../types";
import type { Transport } from "./transport";

export interface PageModel extends WidgetModel {
  /** deliver one kernel reply to the ``msg:custom`` listeners */
  receive(content: unknown): void;
}

export function pageModel(state: WidgetState, transport: Transport): PageModel {
  const changes = new Map<string, Set<() => void>>();
  const handlers = new Set<CustomMessageHandler>();
  const listeners = (event: string) => {
    let set = changes.get(event);
    if (!set) changes.set(event, (set = new Set()));
    return set;
  };
  return {
    static: transport.static,
    get: (key) => state[key],
    set: (key, value) => {
      state[key] = value;
      listeners(`change:${key}`).forEach((f) => f());
    },
    on: (event: string, callback: CustomMessageHandler | (() => void)) => {
      if (event === "msg:custom") handlers.add(callback as CustomMessageHandler);
      else listeners(event).add(callback as () => void);
    },
    off: (event: string, callback: CustomMessageHandler | (() => void)) => {
      if (event === "msg:custom") handlers.delete(callback as CustomMessageHandler);
      else listeners(event).delete(callback as () => void);
    },
    save_changes: () => {},
    send: (content: FrontendMessage) => transport.send(content),
    receive: (content) => handlers.forEach((f) => f(content, [])),
  };
}
