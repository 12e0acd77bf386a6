"""``AttributionVisualizer.serve()``: the visualiser in a browser tab, without a notebook.

Captum Insights served a Flask app; here a small threaded HTTP server on 127.0.0.1 (or all
interfaces with ``bind_all``) serves one page (the same bundle as the widget, see
``export.py``) and carries the widget's custom messages: the page POSTs requests to ``/send``
and long-polls ``/poll?after=<seq>`` for replies. Nothing is fetched from outside.

``/send`` runs attributions on the user's model and ``/poll`` returns what they computed, so the
server defends itself the way Jupyter's does (see README, "How serve() is protected"):

- a random token per server, in the URL that ``serve()`` prints; the first page load exchanges
  it for an HttpOnly, SameSite=Strict cookie (the page's own requests carry the cookie, and the
  token leaves the address bar); scripts may send it as ``Authorization: token <t>`` instead;
- a Host allow-list (loopback names; the machine's names and IP literals only with
  ``bind_all``), against DNS rebinding;
- same-origin only for ``/send`` and ``/poll`` (``Origin`` and ``Sec-Fetch-Site``): a page of
  another origin (another local port is the same *site*, so SameSite alone is not enough)
  cannot make the kernel compute nor read the replies;
- bounded work: bodies over ``MAX_BODY`` get 413, malformed requests 400 with a reason, at most
  ``MAX_POLLERS`` long polls and ``MAX_THREADS`` handler threads at once, sockets time out.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import socket
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, FrozenSet, List, Optional
from urllib.parse import parse_qs, urlparse

from .export import message_json, widget_html

POLL_SECONDS = 20.0
KEPT_MESSAGES = 2000
MAX_BODY = 1 << 20  # bytes; requests are settings, a few kB at most
MAX_POLLERS = 8  # long polls waiting at once; more get 503 (the page retries)
MAX_THREADS = 64  # handler threads at once; further connections are closed unanswered
SOCKET_TIMEOUT = 10.0  # seconds a client may take to send its request
# "store_live" and "store_summary": the requests of a store's visualiser (widget/stored.py)
MESSAGE_TYPES = frozenset({"fetch", "recompute", "attribute", "quality", "cancel", "export",
                           "generate", "store_live", "store_summary"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class MessageChannel:
    """Numbered replies for long-polling clients (the newest KEPT_MESSAGES are kept)."""

    def __init__(self) -> None:
        self._items: List[Dict[str, Any]] = []
        self._seq = 0
        self._closed = False
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

    def after(self, seq: int, timeout: Optional[float] = None) -> List[Dict[str, Any]]:
        """Replies numbered above ``seq``; waits at most ``timeout`` seconds (default
        ``POLL_SECONDS``) for one."""
        with self._changed:
            self._changed.wait_for(lambda: self._seq > seq or self._closed,
                                   POLL_SECONDS if timeout is None else timeout)
            return [item for item in self._items if item["seq"] > seq]

    def close(self) -> None:
        """Wake every waiting poll (the server is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()


def host_name(header: str) -> str:
    """The name in a Host header, without its port: ``[::1]:8080`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def machine_names() -> FrozenSet[str]:
    """This machine's host names (accepted as Host only when serving on all interfaces)."""
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    return frozenset(name for name in names if name)


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class _BoundedServer(ThreadingHTTPServer):
    """A threading server that runs at most ``MAX_THREADS`` handlers at once (further
    connections are closed at once, so many slow clients cannot exhaust the process)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the listen backlog: bursts of connections are not dropped

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.slots = threading.BoundedSemaphore(MAX_THREADS)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class VisualizerServer:
    """One visualiser served over HTTP; ``port`` is where it listens, ``url`` (with the
    token) is what a browser opens.

    ``token``: None draws a random one; a string sets it; ``""`` turns the check off, allowed
    only on 127.0.0.1 (not with ``bind_all``)."""

    def __init__(self, widget: Any, port: Optional[int] = None, bind_all: bool = False,
                 token: Optional[str] = None) -> None:
        if token is not None and not isinstance(token, str):
            raise TypeError(f"`token` must be a string or None; got {type(token).__name__}.")
        if token == "" and bind_all:
            raise ValueError("`token` may be empty only on 127.0.0.1: with bind_all=True "
                             "anyone on the network could run attributions; got token=''.")
        self.token = secrets.token_urlsafe(32) if token is None else token
        self.bind_all = bind_all
        self.widget = widget
        self.channel = MessageChannel()
        self.pollers = threading.BoundedSemaphore(MAX_POLLERS)
        #: requests refused so far, by HTTP status (tests check that refusals reach us)
        self.refused: Dict[int, int] = {}
        self._refused_lock = threading.Lock()
        self.allowed_hosts = LOOPBACK_HOSTS | (machine_names() if bind_all else frozenset())
        self.httpd = _BoundedServer(("0.0.0.0" if bind_all else "127.0.0.1", port or 0),
                                    self._handler())
        self.port = self.httpd.server_address[1]
        self.cookie = f"insight_widget_{self.port}"
        widget.transport = self.channel.post
        self._thread: Optional[threading.Thread] = None
        if bind_all:
            warnings.warn(
                f"serve(bind_all=True): the visualiser on port {self.port} is reachable from the "
                "network; anyone who has its URL with the token can run attributions on your "
                "model. Share the URL only with people you trust.", UserWarning, stacklevel=3)

    @property
    def url(self) -> str:
        """The page's address, with its token (what ``serve()`` prints)."""
        query = f"?token={self.token}" if self.token else ""
        return f"http://localhost:{self.port}/{query}"

    # -- checks -----------------------------------------------------------------------------------
    def host_allowed(self, header: Optional[str]) -> bool:
        name = host_name(header or "")
        return name in self.allowed_hosts or (self.bind_all and _is_ip_literal(name))

    def token_matches(self, offered: Optional[str]) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), self.token.encode())

    def _count_refusal(self, status: int) -> None:
        with self._refused_lock:
            self.refused[status] = self.refused.get(status, 0) + 1

    def _handler(self) -> type:
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = SOCKET_TIMEOUT

            def log_message(self, *args: Any) -> None:  # quiet: no per-request log lines
                return

            def _reply(self, body: bytes, kind: str, status: int = 200,
                       headers: Optional[Dict[str, str]] = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _refuse(self, status: int, reason: str) -> None:
                server._count_refusal(status)
                self.close_connection = True
                self._reply(reason.encode("utf-8"), "text/plain; charset=utf-8", status)

            def _cookie_token(self) -> Optional[str]:
                for part in self.headers.get("Cookie", "").split(";"):
                    name, _, value = part.strip().partition("=")
                    if name == server.cookie:
                        return value
                return None

            def _authorised(self, query: Dict[str, List[str]]) -> bool:
                if not server.token:
                    return True
                header = self.headers.get("Authorization", "")
                offered = [self._cookie_token(), query.get("token", [None])[0],
                           header[6:].strip() if header.lower().startswith("token ") else None]
                return any(server.token_matches(value) for value in offered)

            def _same_origin(self) -> bool:
                """No other origin may call the API: browsers name a cross-origin caller in
                ``Origin`` (POST, and CORS GETs) and in ``Sec-Fetch-Site`` (every request)."""
                site = self.headers.get("Sec-Fetch-Site")
                if site is not None and site not in ("same-origin", "none"):
                    return False
                origin = self.headers.get("Origin")
                return origin is None or origin == f"http://{self.headers.get('Host', '')}"

            def _admit(self, api: bool) -> Optional[Dict[str, List[str]]]:
                """The query when the request may proceed; otherwise refuse and None."""
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if not server.host_allowed(self.headers.get("Host")):
                    self._refuse(403, "Host not allowed (insight_widget accepts localhost; "
                                      "serve(bind_all=True) also accepts this machine's names)")
                elif api and not self._same_origin():
                    self._refuse(403, "cross-origin requests are not allowed")
                elif not self._authorised(query):
                    self._refuse(403 if "token" in query else 401,
                                 "open the URL that serve() printed, with its token "
                                 "(visualizer.server_url)")
                else:
                    return query
                return None

            def do_GET(self) -> None:
                path = urlparse(self.path).path
                if path == "/favicon.ico":  # browsers ask; an empty answer, no 404 in logs
                    self._reply(b"", "image/x-icon", 200)
                    return
                if path not in ("/", "/poll"):
                    self._reply(b"not found", "text/plain", 404)
                    return
                query = self._admit(api=path == "/poll")
                if query is None:
                    return
                if path == "/poll":
                    self._poll(query)
                elif "token" in query:
                    # trade the token in the address bar for a cookie the page's requests carry
                    self._reply(b"", "text/plain", 303, {
                        "Location": "/",
                        "Set-Cookie": f"{server.cookie}={server.token}; HttpOnly; "
                                      "SameSite=Strict; Path=/"})
                else:
                    # the sequence number is read before the state, so no reply is missed
                    page = widget_html(server.widget, transport="http",
                                       after=server.channel.seq)
                    self._reply(page.encode("utf-8"), "text/html; charset=utf-8")

            def _poll(self, query: Dict[str, List[str]]) -> None:
                try:
                    after = int(query.get("after", ["0"])[0])
                except ValueError:
                    self._refuse(400, "`after` must be an integer")
                    return
                if not server.pollers.acquire(blocking=False):
                    self._refuse(503, "too many long polls at once; retry later")
                    return
                try:
                    messages = server.channel.after(after)
                finally:
                    server.pollers.release()
                self._reply(json.dumps({"messages": messages}).encode("utf-8"),
                            "application/json")

            def do_POST(self) -> None:
                if urlparse(self.path).path != "/send":
                    self._reply(b"not found", "text/plain", 404)
                    return
                if self._admit(api=True) is None:
                    return
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    self._refuse(411, "Content-Length is required")
                    return
                if length > MAX_BODY or length < 0:
                    self._refuse(413, f"request body over {MAX_BODY} bytes")
                    return
                try:
                    content = json.loads(self.rfile.read(length))
                except (json.JSONDecodeError, UnicodeDecodeError) as error:
                    self._refuse(400, f"malformed JSON: {error}")
                    return
                kind = content.get("type") if isinstance(content, dict) else None
                if kind not in MESSAGE_TYPES:
                    self._refuse(400, f"unknown message type {kind!r}; expected one of "
                                      f"{sorted(MESSAGE_TYPES)}")
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
        self.channel.close()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.widget.transport = None
