"""``serve()``'s defences over plain HTTP: the token and its cookie, the Host allow-list, the
same-origin rule, bounded bodies, long polls and pollers, and the page it serves."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from typing import Dict, Optional, Tuple

import pytest

import insight_widget.widget.server as server_module

from .conftest import make_cifar_visualizer

FETCH = json.dumps({"type": "fetch", "id": "r1", "filters": {"num_examples": 2}}).encode()


def call(port: int, method: str, path: str, body: Optional[bytes] = None,
         headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
    """One request with exactly these headers (Host defaults to 127.0.0.1:<port>)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        sent = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        if body is not None:
            sent.setdefault("Content-Length", str(len(body)))
        for key, value in sent.items():
            connection.putheader(key, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture(autouse=True)
def short_polls(monkeypatch):
    """Long polls that find nothing end quickly here (the real wait is POLL_SECONDS)."""
    monkeypatch.setattr(server_module, "POLL_SECONDS", 0.2)


@pytest.fixture
def served(capsys):
    visualizer = make_cifar_visualizer()
    port = visualizer.serve()
    server = visualizer._server
    try:
        yield visualizer, server, port, {"Authorization": f"token {server.token}"}
    finally:
        server.stop()


def test_the_printed_url_carries_a_random_token_that_is_traded_for_a_strict_cookie(served,
                                                                                    capsys):
    visualizer, server, port, _ = served
    assert visualizer.server_url == f"http://localhost:{port}/?token={server.token}"
    assert visualizer.server_url in capsys.readouterr().out
    assert len(server.token) >= 32

    assert call(port, "GET", "/")[0] == 401
    assert call(port, "GET", "/?token=wrong")[0] == 403
    status, headers, _ = call(port, "GET", f"/?token={server.token}")
    assert status == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"insight_widget_{port}={server.token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, _, page = call(port, "GET", "/", headers={"Cookie": cookie.split(";")[0]})
    assert status == 200 and b'id="insight-widget-state"' in page
    assert b'"transport": "http"' in page and server.token.encode() not in page
    # the API wants the token too
    assert call(port, "GET", "/poll?after=0")[0] == 401
    assert call(port, "POST", "/send", FETCH)[0] == 401
    assert server.channel.seq == 0  # nothing ran


def test_each_server_draws_its_own_token_and_a_chosen_one_is_kept(capsys):
    first, second = make_cifar_visualizer(), make_cifar_visualizer()
    first.serve()
    second.serve(token="my-secret")
    try:
        other = make_cifar_visualizer()
        other.serve()
        assert other._server.token != first._server.token
        other._server.stop()
        assert second.server_url.endswith("/?token=my-secret")
        port = second._server.port
        assert call(port, "GET", "/poll?after=0&token=my-secret")[0] == 200
    finally:
        first._server.stop()
        second._server.stop()


def test_an_empty_token_only_on_localhost_and_only_when_asked(capsys):
    visualizer = make_cifar_visualizer()
    with pytest.raises(ValueError, match=r"token.*127\.0\.0\.1"):
        visualizer.serve(bind_all=True, token="")
    with pytest.raises(TypeError, match="token"):
        visualizer.serve(token=1234)
    port = visualizer.serve(token="")
    try:
        assert visualizer.server_url == f"http://localhost:{port}/"
        assert call(port, "GET", "/")[0] == 200
    finally:
        visualizer._server.stop()


def test_foreign_hosts_are_refused_even_with_the_token(served):
    _, _, port, auth = served
    for host in ("evil.example", f"evil.example:{port}", "192.168.1.20", socket.gethostname()):
        status, _, body = call(port, "GET", "/poll?after=0", headers={**auth, "Host": host})
        assert status == 403 and b"Host" in body, host
    for host in (f"localhost:{port}", f"[::1]:{port}", f"127.0.0.1:{port}"):
        assert call(port, "GET", "/poll?after=0", headers={**auth, "Host": host})[0] == 200


def test_bind_all_warns_and_accepts_the_machines_names(capsys):
    visualizer = make_cifar_visualizer()
    with pytest.warns(UserWarning, match="reachable from the network"):
        port = visualizer.serve(bind_all=True)
    server = visualizer._server
    try:
        auth = {"Authorization": f"token {server.token}"}
        for host in (socket.gethostname(), "192.168.1.20:8000"):
            assert call(port, "GET", "/poll?after=0", headers={**auth, "Host": host})[0] == 200
        assert call(port, "GET", "/poll?after=0", headers={"Host": "evil.example"})[0] == 403
        assert call(port, "GET", "/poll?after=0")[0] == 401  # still needs the token
    finally:
        server.stop()


def test_other_origins_may_not_post_nor_poll(served):
    visualizer, server, port, auth = served
    for headers in ({"Origin": "http://127.0.0.1:9"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"}):
        assert call(port, "POST", "/send", FETCH, {**auth, **headers})[0] == 403, headers
        assert call(port, "GET", "/poll?after=0", headers={**auth, **headers})[0] == 403
    assert server.channel.seq == 0 and visualizer.widget().session.wait(1)
    same = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
    assert call(port, "POST", "/send", FETCH, {**auth, **same})[0] == 200
    assert visualizer.widget().session.wait(30) and server.channel.seq > 0


def test_oversized_malformed_and_unknown_requests_get_a_reason_and_the_server_keeps_going(
        served):
    visualizer, server, port, auth = served
    # refused on its Content-Length, before a byte of it is read
    too_long = {**auth, "Content-Length": str(server_module.MAX_BODY + 1)}
    assert call(port, "POST", "/send", b"", too_long)[0] == 413
    status, _, body = call(port, "POST", "/send", b"{not json", auth)
    assert status == 400 and b"malformed JSON" in body
    status, _, body = call(port, "POST", "/send", b'{"type": "format_disk"}', auth)
    assert status == 400 and b"unknown message type 'format_disk'" in body
    assert call(port, "POST", "/send", b"[1, 2]", auth)[0] == 400
    assert call(port, "POST", "/send", b"\xff\xfe", auth)[0] == 400
    assert call(port, "GET", "/poll?after=x", headers=auth)[0] == 400
    assert server.channel.seq == 0
    assert call(port, "POST", "/send", FETCH, auth)[0] == 200
    assert visualizer.widget().session.wait(30)
    status, _, body = call(port, "GET", "/poll?after=0", headers=auth)
    kinds = [m["content"]["type"] for m in json.loads(body)["messages"]]
    assert kinds[0] == "fetch_started" and kinds[-1] == "done" and kinds.count("example") == 2


def test_long_polls_end_after_their_timeout_and_extra_pollers_are_turned_away(served,
                                                                               monkeypatch):
    visualizer, _, port, auth = served
    monkeypatch.setattr(server_module, "POLL_SECONDS", 1.0)
    started = time.monotonic()
    status, _, body = call(port, "GET", "/poll?after=0", headers=auth)
    assert status == 200 and json.loads(body) == {"messages": []}
    assert 0.9 <= time.monotonic() - started < 5

    # more pollers than allowed at once: the extra ones get 503 at once, nothing piles up,
    # and a request still goes through meanwhile
    monkeypatch.setattr(server_module, "POLL_SECONDS", 3.0)
    statuses = []
    lock = threading.Lock()

    def poll() -> None:  # waits for a reply number that never comes
        status = call(port, "GET", "/poll?after=1000000", headers=auth)[0]
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=poll) for _ in range(server_module.MAX_POLLERS + 6)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    assert call(port, "POST", "/send", FETCH, auth)[0] == 200
    for thread in threads:
        thread.join(30)
    assert statuses.count(503) >= 6 and statuses.count(200) <= server_module.MAX_POLLERS
    assert visualizer.widget().session.wait(30)


def test_a_newer_request_over_http_supersedes_the_pending_one(capsys):
    from .small_models import SlowUnderGrad

    visualizer = make_cifar_visualizer(models=SlowUnderGrad(0.05))
    port = visualizer.serve()
    server = visualizer._server
    auth = {"Authorization": f"token {server.token}"}
    try:
        slow = {"type": "fetch", "id": "slow", "filters": {"num_examples": 4},
                "settings": {"method": "Integrated Gradients",
                             "arguments": {"n_steps": 200, "internal_batch_size": 2}}}
        assert call(port, "POST", "/send", json.dumps(slow).encode(), auth)[0] == 200
        time.sleep(0.2)
        fast = {"type": "fetch", "id": "fast", "filters": {"num_examples": 1},
                "settings": {"method": "Saliency"}}
        assert call(port, "POST", "/send", json.dumps(fast).encode(), auth)[0] == 200
        assert visualizer.widget().session.wait(30)
        done = {m["content"]["id"]: m["content"]["state"]
                for m in server.channel.after(0, timeout=0) if m["content"]["type"] == "done"}
        assert done == {"slow": "superseded", "fast": "complete"}
    finally:
        server.stop()


def test_many_idle_connections_are_capped_and_the_server_recovers(served):
    _, _, port, auth = served
    before = threading.active_count()
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=5)
               for _ in range(server_module.MAX_THREADS + 40)]
    try:
        time.sleep(0.5)
        # one handler thread per admitted connection, never more than MAX_THREADS
        assert threading.active_count() - before <= server_module.MAX_THREADS
    finally:
        for sock in sockets:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # the closed connections free their slots
        try:
            if call(port, "GET", "/poll?after=0", headers=auth)[0] == 200:
                break
        except (OSError, http.client.HTTPException):
            pass
        assert time.monotonic() < deadline
        time.sleep(0.1)
