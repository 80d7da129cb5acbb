"""`make serve`: the ingest endpoint and the demo shop on 127.0.0.1, no AWS needed.

    python -m lambdas.ingest.server [--port 8080]     # SERVE_PORT also sets the port

`/clickstream` (any method) becomes an API Gateway payload-2.0 event and goes through the
very handler the Lambda runs, writing to the configured S3 (the embedded one under `make
serve`). Every other path is a static file from `tracker/`: `/clickstream.js` and the demo
shop at `/shop/`.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from clickstream.config import PROJECT_ROOT
from lambdas.ingest.handler import LOGGER, IngestSettings, IngestSettingsError, handle_request
from lambdas.ingest.local import ROUTE_PATH, apigw_event

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8080
STATIC_DIR = PROJECT_ROOT / "tracker"
SHOP_PATH = "/shop/"


class IngestServer(ThreadingHTTPServer):
    """A threading HTTP server that knows the handler's settings and S3 client."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        *,
        settings: IngestSettings,
        s3: S3Client,
        static_dir: Path = STATIC_DIR,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        super().__init__(address, partial(IngestRequestHandler, directory=str(static_dir)))

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class IngestRequestHandler(SimpleHTTPRequestHandler):
    server: IngestServer
    protocol_version = "HTTP/1.1"  # keep-alive: a tracker or load generator reuses sockets

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == ROUTE_PATH:
            self._call_handler()
        elif path == "/":
            self._redirect(SHOP_PATH)
        else:
            super().do_GET()

    def do_HEAD(self) -> None:
        if urlsplit(self.path).path == ROUTE_PATH:
            self._call_handler()
        else:
            super().do_HEAD()

    def do_POST(self) -> None:
        self._call_handler_or_404()

    def do_OPTIONS(self) -> None:
        self._call_handler_or_404()

    def do_PUT(self) -> None:
        self._call_handler_or_404()

    def do_DELETE(self) -> None:
        self._call_handler_or_404()

    def do_PATCH(self) -> None:
        self._call_handler_or_404()

    def _call_handler_or_404(self) -> None:
        if urlsplit(self.path).path == ROUTE_PATH:
            self._call_handler()
        else:
            self._drain_body()
            self.send_error(HTTPStatus.NOT_FOUND, f"only {ROUTE_PATH} takes {self.command}")

    def _content_length(self) -> int | None:
        """The declared body length; None when it is missing for chunks or malformed."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        return length if length >= 0 else None

    def _read_body(self) -> bytes:
        """At most one byte over the handler's limit: enough for it to answer 413."""
        length = self._content_length()
        if length is None:
            self.close_connection = True  # no way to find where this body ends
            return b""
        wanted = min(length, self.server.settings.max_body_bytes + 1)
        body = self.rfile.read(wanted) if wanted > 0 else b""
        if length > wanted:
            self.close_connection = True  # the rest stays unread: this socket is done
        return body

    def _drain_body(self) -> None:
        self._read_body()

    def _call_handler(self) -> None:
        if self._content_length() is None:
            self.close_connection = True
            self.send_error(HTTPStatus.LENGTH_REQUIRED, "send a valid Content-Length")
            return
        body = self._read_body()
        event = apigw_event(
            body,
            method=self.command,
            path=urlsplit(self.path).path,
            headers=dict(self.headers.items()),
            source_ip=self.client_address[0],
            query_string=urlsplit(self.path).query,
        )
        response = handle_request(
            event, s3=self.server.s3, settings=self.server.settings, now=_utc_now
        )
        self._send_apigw_response(response)

    def _send_apigw_response(self, response: dict[str, Any]) -> None:
        payload = str(response.get("body") or "").encode("utf-8")
        self.send_response(int(response["statusCode"]))
        for name, value in (response.get("headers") or {}).items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.FOUND)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def end_headers(self) -> None:
        if urlsplit(self.path).path != ROUTE_PATH:
            self.send_header("Cache-Control", "no-cache")  # the demo shop is edited live
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        # /clickstream requests are logged by the handler, as JSON; static files quietly.
        LOGGER.debug("static file", extra={"fields": {"request": format % args}})


def _utc_now() -> datetime:
    return datetime.now(UTC)


def make_server(
    port: int = DEFAULT_PORT,
    *,
    host: str = LOOPBACK,
    settings: IngestSettings | None = None,
    s3: S3Client | None = None,
    static_dir: Path = STATIC_DIR,
) -> IngestServer:
    """A bound server (port 0: any free port; `server.url` says which)."""
    if s3 is None:
        from clickstream.storage import s3_client

        s3 = s3_client()
    return IngestServer(
        (host, port),
        settings=settings or IngestSettings.from_env(),
        s3=s3,
        static_dir=static_dir,
    )


@contextmanager
def running_server(**options: Any) -> Iterator[IngestServer]:
    """A server answering on a background thread for the length of the block (tests, bench)."""
    server = make_server(**{"port": 0, **options})
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="ingest-server",
        daemon=True,
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lambdas.ingest.server",
        description="Serve POST /clickstream (the real handler) and the demo shop locally.",
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("SERVE_PORT") or DEFAULT_PORT)
    )
    parser.add_argument(
        "--host", default=LOOPBACK, help="interface to listen on (default: loopback only)"
    )
    args = parser.parse_args(argv)
    try:
        settings = IngestSettings.from_env()
    except IngestSettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    LOGGER.setLevel(settings.log_level)
    try:
        server = make_server(args.port, host=args.host, settings=settings)
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 1
    print(
        f"demo shop:  {server.url}{SHOP_PATH}\n"
        f"endpoint:   POST {server.url}{ROUTE_PATH} -> s3://{settings.raw_bucket}/"
        f"{settings.raw_prefix}\n"
        "Ctrl-C stops it.",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
