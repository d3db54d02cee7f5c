"""A fake Plex Media Server: a real HTTP server on 127.0.0.1 that unmodified python-plexapi
works against. Data lives in `tests.fakes.plex_store.PlexLibrary`; this module adds HTTP,
the token check, fault injection and the request log.

    fake = FakePlex(token="secret-token", tag_mode="replace").start()
    sid = fake.add_section("Movies", locations=["/media/movies"])
    key = fake.add_item(sid, title="A", files=["/media/movies/a.mp4"], genres=["x"])
    PlexServer(fake.url, "secret-token").fetchItem(key).edit(**{"title.value": "B"})
    assert fake.item(key).title == "B"
    fake.fail_next(2, 503, retry_after=7); fake.reset_next(1); fake.slow_next(1, 2.0)
    fake.garbage_next(1); fake.stop(); fake.start()   # same port
    fake.writes()  # logged PUT/POST requests
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.plex_store import FakeItem, FakePlexError, PlexLibrary, container

MACHINE_ID = "fakeplex0000machine0000identifier"
VERSION = "1.40.2.8395-c67dce28e"


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    status: int  # 0: connection reset without an answer
    monotonic: float
    wall: float
    headers: dict[str, str]


@dataclass(frozen=True)
class _Fault:
    kind: str  # "fail" | "reset" | "slow" | "garbage"
    status: int = 0
    retry_after: str | None = None
    seconds: float = 0.0


class FakePlex:
    def __init__(self, token: str = "fake-plex-token", tag_mode: str = "replace") -> None:
        self.token = token
        self._lock = threading.RLock()
        self._clock_offset = 0
        self.library = PlexLibrary(self._now, tag_mode)
        self._faults: deque[_Fault | None] = deque()  # None: answer this request normally
        self._log: list[RequestRecord] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self.port = 0

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakePlex:
        """Start serving (again); a restart binds the same port."""
        with self._lock:
            if self._server is not None:
                return self
            self._stopping.clear()
            server = ThreadingHTTPServer(("127.0.0.1", self.port), _make_handler(self))
            server.daemon_threads = True
            self.port = server.server_address[1]
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop open connections: clients now get connection refused."""
        with self._lock:
            server, self._server = self._server, None
            self._stopping.set()
            conns = list(self._connections)
        if server is None:
            return
        server.shutdown()
        server.server_close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    def set_token(self, token: str) -> None:
        with self._lock:
            self.token = token

    def _now(self) -> int:
        return int(time.time()) + self._clock_offset

    def advance_clock(self, seconds: int) -> None:
        """Move the fake's clock (updatedAt/addedAt of later changes) forward."""
        with self._lock:
            self._clock_offset += seconds

    # ------------------------------------------------------------ faults

    def _queue(self, n: int, fault: _Fault, after: int = 0) -> None:
        with self._lock:
            self._faults.extend([None] * after + [fault] * n)

    def fail_next(
        self, n: int, status: int, retry_after: float | str | None = None, after: int = 0
    ) -> None:
        """Answer `n` requests with `status` (+ Retry-After), after `after` normal answers."""
        ra = None if retry_after is None else str(retry_after)
        self._queue(n, _Fault("fail", status=status, retry_after=ra), after)

    def reset_next(self, n: int = 1) -> None:
        self._queue(n, _Fault("reset"))

    def slow_next(self, n: int, seconds: float) -> None:
        self._queue(n, _Fault("slow", seconds=seconds))

    def garbage_next(self, n: int = 1) -> None:
        self._queue(n, _Fault("garbage"))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # ------------------------------------------------------------ request log

    @property
    def log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def reads(self) -> list[RequestRecord]:
        return [r for r in self.log if r.method == "GET"]

    def writes(self) -> list[RequestRecord]:
        return [r for r in self.log if r.method in ("PUT", "POST", "DELETE")]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)

    # ------------------------------------------------------------ staging API

    def add_section(
        self, title: str, type: str = "movie", locations: list[str] | None = None
    ) -> int:
        with self._lock:
            return self.library.add_section(title, type, locations or [])

    def add_item(self, section_id: int, title: str = "Untitled", **fields: Any) -> int:
        with self._lock:
            return self.library.add_item(section_id, title, **fields)

    def bulk_add(self, section_id: int, n: int, path_pattern: str) -> list[int]:
        with self._lock:
            return self.library.bulk_add(section_id, n, path_pattern)

    def edit_by_hand(self, rating_key: int, lock: bool = False, **fields: Any) -> None:
        with self._lock:
            self.library.edit_by_hand(int(rating_key), lock=lock, **fields)

    def remove_item(self, rating_key: int) -> None:
        with self._lock:
            self.library.remove_item(int(rating_key))

    def item(self, rating_key: int | str) -> FakeItem:
        with self._lock:
            return self.library.snapshot(int(rating_key))

    # ------------------------------------------------------------ dispatch

    def _dispatch(self, method: str, path: str, query: list[tuple[str, str]], body: bytes) -> bytes:
        params = dict(query)
        lib = self.library
        parts = [p for p in path.split("/") if p]
        with self._lock:
            if method == "GET":
                if not parts:
                    return self._server_info()
                if parts == ["identity"]:
                    return container(
                        size=0, claimed=1, machineIdentifier=MACHINE_ID, version=VERSION
                    )
                if parts == ["library"]:
                    return container('<Directory key="sections" title="Library Sections"/>',
                                     size=1, title1="Plex Library")  # fmt: skip
                if parts == ["library", "sections"]:
                    return lib.sections_xml()
                if len(parts) == 4 and parts[:2] == ["library", "sections"] and parts[3] == "all":
                    start, size = _paging(params)
                    return lib.listing_xml(_int(parts[2]), params, start, size)
                if len(parts) == 3 and parts[:2] == ["library", "metadata"]:
                    return lib.metadata_xml(_int(parts[2]))
                if (
                    len(parts) == 4
                    and parts[:2] == ["library", "metadata"]
                    and parts[3] == "posters"
                ):
                    return lib.posters_xml(_int(parts[2]))
            elif method == "PUT":
                if len(parts) == 4 and parts[:2] == ["library", "sections"] and parts[3] == "all":
                    lib.edit(_int(parts[2]), query)
                    return b""
                if parts == [":", "rate"]:
                    lib.rate(params)
                    return b""
            elif (
                method == "POST"
                and parts[:2] == ["library", "metadata"]
                and parts[3:] == ["posters"]
            ):
                lib.upload_poster(_int(parts[2]), body)
                return b""
        raise FakePlexError(404, "no such endpoint")

    def _server_info(self) -> bytes:
        return container(
            size=0, friendlyName="Fake Plex", machineIdentifier=MACHINE_ID, version=VERSION,
            platform="Linux", platformVersion="6.1", myPlex=0, multiuser=0, allowSync=0,
            transcoderActiveVideoSessions=0, updatedAt=self._now(),
        )  # fmt: skip


def _int(text: str) -> int:
    if not text.isdigit():
        raise FakePlexError(404, f"not a key: {text!r}")
    return int(text)


def _paging(params: dict[str, str]) -> tuple[int, int | None]:
    start = params.get("X-Plex-Container-Start", "0")
    size = params.get("X-Plex-Container-Size")
    return int(start or 0), (int(size) if size not in (None, "") else None)


def _make_handler(fake: FakePlex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakePlex/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # silence stderr
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes on a kept-alive connection: without
            # TCP_NODELAY, Nagle + delayed ACK add ~40 ms to every request (real Plex does not).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with fake._lock:
                fake._connections.add(self.connection)

        def finish(self) -> None:
            with fake._lock:
                fake._connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def do_GET(self) -> None:
            self._handle()

        do_PUT = do_POST = do_DELETE = do_GET

        def _handle(self) -> None:
            split = urlsplit(self.path)
            query = parse_qsl(split.query, keep_blank_values=True)
            params = dict(query)
            for name in ("X-Plex-Container-Start", "X-Plex-Container-Size"):
                if self.headers.get(name) is not None:
                    query.append((name, self.headers[name]))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            token = self.headers.get("X-Plex-Token") or params.get("X-Plex-Token")
            fault = fake._take_fault()
            status, payload, extra = 200, b"", {}
            if fault and fault.kind == "slow":
                if fake._stopping.wait(fault.seconds):
                    return self._reset(split.path, query, close_only=True)
                fault = None
            if fault and fault.kind == "reset":
                return self._reset(split.path, query)
            if fault and fault.kind == "fail":
                status = fault.status
                payload = b"" if status == 401 else f"<html>{status}</html>".encode()
                if fault.retry_after is not None:
                    extra["Retry-After"] = fault.retry_after
            elif fault and fault.kind == "garbage":
                payload = b"this is not XML { at all"
            elif token != fake.token:
                status = 401
            else:
                try:
                    payload = fake._dispatch(self.command, split.path, query, body)
                except FakePlexError as exc:
                    status, payload = exc.status, f"<html>{exc.text}</html>".encode()
            self._record(split.path, query, status)
            self._send(status, payload, extra)

        def _record(self, path: str, query: list[tuple[str, str]], status: int) -> None:
            q = {k: v for k, v in query if k != "X-Plex-Token"}
            headers = {k: v for k, v in self.headers.items() if k.lower() != "x-plex-token"}
            fake._record(RequestRecord(self.command, path, q, status, time.monotonic(),
                                       time.time(), headers))  # fmt: skip

        def _send(self, status: int, payload: bytes, extra: dict[str, str]) -> None:
            try:
                self.send_response(status, HTTPStatus(status).phrase if status in
                                   HTTPStatus._value2member_map_ else "Error")  # fmt: skip
                ctype = "text/xml;charset=utf-8" if status == 200 else "text/html"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                self.close_connection = True

        def _reset(self, path: str, query: list[tuple[str, str]], close_only: bool = False) -> None:
            self._record(path, query, 0)
            self.close_connection = True
            with contextlib.suppress(OSError):
                if not close_only:  # SO_LINGER 0: close() sends RST, the client sees a reset
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                self.connection.close()

    return Handler
