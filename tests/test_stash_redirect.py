"""A redirect from "Stash" is not followed: the ApiKey header must not travel elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from plexsync.errors import PermanentError
from plexsync.stash import StashClient


@pytest.fixture
def servers() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen_elsewhere: list[dict[str, str]] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen_elsewhere.append(dict(self.headers))
            self.send_response(200)
            self.end_headers()

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    target = f"http://127.0.0.1:{other.server_address[1]}/graphql"

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    stash = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (other, stash):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{stash.server_address[1]}", seen_elsewhere
    for server in (other, stash):
        server.shutdown()
        server.server_close()


def test_redirect_is_refused_and_api_key_stays_home(
    servers: tuple[str, list[dict[str, str]]],
) -> None:
    base, seen_elsewhere = servers
    client = StashClient(base, api_key="key-must-not-leak", connect_timeout=2, read_timeout=2)
    with pytest.raises(PermanentError, match=r"redirected \(307\)") as err:
        client.version()
    assert "key-must-not-leak" not in str(err.value)
    assert seen_elsewhere == []
