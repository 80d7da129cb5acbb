"""The ingest handler off AWS: build the payload-2.0 events API Gateway would send, and call
the real handler code with them (the local server, the demo's traffic, tests, benchmarks).

    from lambdas.ingest.local import handler_sink
    write_requests(generate_requests(20000), handler_sink())   # devtools.traffic

`handler_sink` turns each generated `Request` into a POST /clickstream on the handler, with the
request's own `received_at` as the handler's clock, so the objects land in the same hour
partitions, under the same keys and with the same lines as `s3_sink` would write.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from clickstream.errors import TerminalError, TransientError
from lambdas.ingest.handler import LOGGER, IngestSettings, handle_request

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOCAL_API_ID = "local"
LOCAL_STAGE = "$default"
ROUTE_PATH = "/clickstream"


def apigw_event(
    body: bytes | str | None,
    *,
    method: str = "POST",
    path: str = ROUTE_PATH,
    headers: Mapping[str, str] | None = None,
    source_ip: str = "127.0.0.1",
    user_agent: str = "",
    received_at: datetime | None = None,
    request_id: str | None = None,
    base64_encoded: bool | None = None,
    query_string: str = "",
) -> dict[str, Any]:
    """An API Gateway HTTP API payload-2.0 event, as AWS builds it: lower-cased headers, the
    body as text, or base64 when it is binary (not UTF-8, or compressed)."""
    when = received_at or datetime.now(UTC)
    all_headers = {name.lower(): value for name, value in (headers or {}).items()}
    if user_agent:
        all_headers.setdefault("user-agent", user_agent)
    raw = body.encode("utf-8") if isinstance(body, str) else body or b""
    if base64_encoded is None:
        base64_encoded = bool(all_headers.get("content-encoding")) or not _is_utf8(raw)
    text = base64.b64encode(raw).decode("ascii") if base64_encoded else raw.decode("utf-8")
    request_id = request_id or str(uuid.uuid4())
    return {
        "version": "2.0",
        "routeKey": f"{method} {ROUTE_PATH}",
        "rawPath": path,
        "rawQueryString": query_string,
        "headers": all_headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": LOCAL_API_ID,
            "domainName": all_headers.get("host", "localhost"),
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": all_headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": f"{method} {ROUTE_PATH}",
            "stage": LOCAL_STAGE,
            "time": when.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(when.timestamp() * 1000),
        },
        "body": text,
        "isBase64Encoded": base64_encoded,
    }


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@dataclass(frozen=True)
class HandlerAnswer:
    """The handler's response, with the body parsed."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    @classmethod
    def from_apigw(cls, response: Mapping[str, Any]) -> HandlerAnswer:
        text = response.get("body") or ""
        return cls(
            status=int(response["statusCode"]),
            body=json.loads(text) if text else {},
            headers=dict(response.get("headers") or {}),
        )


class IngestRejectedError(TerminalError):
    """The handler refused (part of) a request the caller expected to be accepted whole."""


class IngestUnavailableError(TransientError):
    """The handler could not store the events (its S3 was unreachable)."""


def send_request(
    events: Iterable[Mapping[str, Any]],
    *,
    received_at: datetime,
    request_id: str | None = None,
    source_ip: str = "127.0.0.1",
    user_agent: str = "",
    s3: S3Client | Callable[[], S3Client] | None = None,
    settings: IngestSettings | None = None,
) -> HandlerAnswer:
    """POST `events` (as {"events": [...]}) to the real handler code, with `received_at` as
    its clock. `s3` and `settings` default to the environment's (RAW_BUCKET, the embedded S3)."""
    body = json.dumps({"events": list(events)}, ensure_ascii=False, allow_nan=False)
    event = apigw_event(
        body,
        headers={"content-type": "application/json"},
        source_ip=source_ip,
        user_agent=user_agent,
        received_at=received_at,
        request_id=request_id,
    )
    response = handle_request(
        event,
        s3=s3 if s3 is not None else _environment_s3,
        settings=settings or IngestSettings.from_env(),
        now=lambda: received_at,
    )
    return HandlerAnswer.from_apigw(response)


class TrafficRequest(Protocol):
    """What devtools.traffic.Request offers (kept structural: no import of the generator)."""

    @property
    def events(self) -> tuple[dict[str, Any], ...]: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def request_id(self) -> str: ...
    @property
    def source_ip(self) -> str: ...
    @property
    def user_agent(self) -> str: ...


@contextlib.contextmanager
def quiet_handler_logs() -> Iterator[None]:
    """Keep the handler's per-request log lines (INFO) out of a console run such as the demo;
    warnings and errors still print. The logger's level is restored on leaving."""
    previous = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(previous)


def handler_sink(
    s3: S3Client | None = None, settings: IngestSettings | None = None
) -> Callable[[TrafficRequest], None]:
    """A `devtools.traffic` writer that sends each request through the ingest handler.

    Raises IngestRejectedError when the handler does not accept every event of a request
    (generated traffic is valid by construction, so that is a bug worth stopping for) and
    IngestUnavailableError when it could not write to S3."""
    from clickstream.storage import s3_client

    client = s3 or s3_client()  # boto3 clients are thread-safe: one for all writer threads
    resolved = settings or IngestSettings.from_env()

    def send(request: TrafficRequest) -> None:
        answer = send_request(
            request.events,
            received_at=request.received_at,
            request_id=request.request_id,
            source_ip=request.source_ip,
            user_agent=request.user_agent,
            s3=client,
            settings=resolved,
        )
        if answer.status >= 500:
            raise IngestUnavailableError(
                f"request {request.request_id}: {answer.status} {answer.body.get('error')}"
            )
        if answer.status != 200 or answer.body.get("rejected"):
            raise IngestRejectedError(
                f"request {request.request_id}: {answer.status} {json.dumps(answer.body)[:500]}"
            )

    return send


@functools.cache
def _environment_s3() -> S3Client:
    from clickstream.storage import s3_client

    return s3_client()
