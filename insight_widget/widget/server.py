"""``AttributionVisualizer.serve()``: the visualiser in a browser tab, without a notebook.

Captum Insights served a Flask app; here a small threaded HTTP server on 127.0.0.1 (or all
interfaces with ``bind_all``) serves one page (the same bundle as the widget, see
``export.py``) and carries the widget's custom messages: the page POSTs requests to ``/send``
and long-polls ``/poll?after=<seq>`` for replies. Nothing is fetched from outside.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlparse

from .export import message_json, widget_html

POLL_SECONDS = 20.0
KEPT_MESSAGES = 2000

HTTP_TRANSPORT = """
const transport = {
  static: false,
  send: (content) => fetch("send", { method: "POST", body: JSON.stringify(content) }),
  start: async (receive) => {
    let after = __SEQ__;  // replies already reflected in the page's state are not replayed
    for (;;) {
      try {
        const reply = await (await fetch("poll?after=" + after)).json();
        for (const item of reply.messages) { after = item.seq; receive(item.content); }
      } catch (error) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  },
};
"""


class MessageChannel:
    """Numbered replies for long-polling clients (the newest KEPT_MESSAGES are kept)."""

    def __init__(self) -> None:
        self._items: List[Dict[str, Any]] = []
        self._seq = 0
        self._changed = threading.Condition()

    @property
    def seq(self) -> int:
        return self._seq

    def post(self, message: Dict[str, Any]) -> None:
        with self._changed:
            self._seq += 1
            self._items.append({"seq": self._seq, "content": message_json(message)})
            del self._items[:-KEPT_MESSAGES]
            self._changed.notify_all()

    def after(self, seq: int, timeout: float = POLL_SECONDS) -> List[Dict[str, Any]]:
        with self._changed:
            self._changed.wait_for(lambda: self._seq > seq, timeout)
            return [item for item in self._items if item["seq"] > seq]


class VisualizerServer:
    """One visualiser served over HTTP; ``port`` is where it listens."""

    def __init__(self, widget: Any, port: Optional[int] = None, bind_all: bool = False) -> None:
        self.widget = widget
        self.channel = MessageChannel()
        widget.transport = self.channel.post
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("0.0.0.0" if bind_all else "127.0.0.1", port or 0),
                                         handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread: Optional[threading.Thread] = None

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: no per-request log lines
                return

            def _reply(self, body: bytes, kind: str, status: int = 200) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/":
                    # the sequence number is read before the state, so no reply is missed
                    transport = HTTP_TRANSPORT.replace("__SEQ__", str(server.channel.seq))
                    page = widget_html(server.widget, transport=transport)
                    self._reply(page.encode("utf-8"), "text/html; charset=utf-8")
                elif url.path == "/poll":
                    after = int(parse_qs(url.query).get("after", ["0"])[0])
                    body = json.dumps({"messages": server.channel.after(after)})
                    self._reply(body.encode("utf-8"), "application/json")
                elif url.path == "/favicon.ico":  # browsers ask; an empty answer, no 404 in logs
                    self._reply(b"", "image/x-icon", 200)
                else:
                    self._reply(b"not found", "text/plain", 404)

            def do_POST(self) -> None:
                if urlparse(self.path).path != "/send":
                    self._reply(b"not found", "text/plain", 404)
                    return
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    content = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self._reply(b"invalid JSON", "text/plain", 400)
                    return
                server.widget._on_message(server.widget, content, [])
                self._reply(b"{}", "application/json")

        return Handler

    def start(self, blocking: bool = False) -> int:
        if blocking:
            self.httpd.serve_forever()
        else:
            self._thread = threading.Thread(target=self.httpd.serve_forever,
                                            name="insight_widget-server", daemon=True)
            self._thread.start()
        return self.port

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.widget.transport = None
