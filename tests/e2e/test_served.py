"""``AttributionVisualizer.serve()`` in Chromium: the standalone page fetches and draws, and a
page of another local origin in the same browser can neither make it compute nor read it."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.widget.conftest import make_cifar_visualizer

pytestmark = pytest.mark.e2e

ATTACK = """<!doctype html><html><body><script>
window.outcome = (async () => {
  const target = "http://127.0.0.1:%(port)d";
  const out = {};
  // a "simple" cross-site POST needs no CORS permission; the browser sends the cookie along
  // (another port of 127.0.0.1 is the same *site*, so SameSite=Strict does not stop it)
  try {
    await fetch(target + "/send", { method: "POST", mode: "no-cors", credentials: "include",
      body: JSON.stringify({ type: "fetch", id: "attack", filters: { num_examples: 2 } }) });
    out.post = "sent";
  } catch (error) { out.post = String(error); }
  try {
    const reply = await fetch(target + "/poll?after=0", { credentials: "include" });
    out.poll = await reply.text();
  } catch (error) { out.poll = "blocked: " + error; }
  return out;
})();
</script></body></html>"""


def attacker_site(port: int) -> ThreadingHTTPServer:
    page = (ATTACK % {"port": port}).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            return

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    site = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    return site


def test_served_page_fetches_and_another_origin_can_neither_compute_nor_read(browser, capsys):
    visualizer = make_cifar_visualizer()
    port = visualizer.serve()
    server = visualizer._server
    site = attacker_site(port)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        # the printed URL (127.0.0.1 instead of localhost: the harder case for the attack
        # below, which then runs on the same site)
        page.goto(visualizer.server_url.replace("localhost", "127.0.0.1"))
        assert page.url == f"http://127.0.0.1:{port}/"  # the token left the address bar
        cookies = context.cookies()
        assert [(c["httpOnly"], c["sameSite"]) for c in cookies] == [(True, "Strict")]

        # another local origin, same browser, cookie present: refused, nothing computed
        attack = context.new_page()
        attack.goto(f"http://127.0.0.1:{site.server_address[1]}/")
        outcome = attack.evaluate("window.outcome")
        assert outcome["post"] == "sent"  # the browser did send it ...
        assert outcome["poll"].startswith("blocked")  # ... and could not read the replies
        assert server.refused.get(403, 0) >= 2  # both reached the server and were refused
        assert server.channel.seq == 0 and visualizer.widget().session.wait(1)
        attack.close()

        # the real page keeps working: fetch, stream, retarget
        page.locator('[data-testid="iw-fetch"]').click()
        page.wait_for_function("document.querySelectorAll('[data-testid=\"iw-example\"]"
                               " [data-testid=\"iw-attribution\"]').length === 4",
                               timeout=30_000)
        other = page.locator('[data-testid="iw-prediction"]:not(.iw-active)').first
        name = other.inner_text().rsplit(" ", 1)[0]
        other.click()
        page.wait_for_function(
            "(name) => document.querySelector('[data-testid=\"iw-example\"] .iw-meta')"
            ".textContent.includes('target ' + name)", arg=name, timeout=30_000)
        assert errors == []

        # "Save HTML": the same page with the static transport re-colours offline
        exported = context.new_page()
        exported.set_content(visualizer.widget().to_html())
        exported.locator('[data-testid="iw-example"] [data-testid="iw-attribution"]').nth(
            3).wait_for(timeout=30_000)
        assert "Static export" in exported.locator('[data-testid="iw-status"]').inner_text()
        assert exported.locator('[data-testid="iw-fetch"]').is_disabled()
        exported.close()

        # without the token (a fresh browser profile): the page is refused
        stranger = browser.new_context().new_page()
        response = stranger.goto(f"http://127.0.0.1:{port}/")
        assert response.status == 401
        stranger.context.close()
    finally:
        context.close()
        site.shutdown()
        server.stop()
