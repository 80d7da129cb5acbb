"""POST /clickstream: the ingest Lambda behind an API Gateway HTTP API (payload format 2.0).

Thin on purpose: settings are read from the environment on the first request (not at import:
a wrong variable is reported clearly, request by request, instead of breaking the import) and
kept with the S3 client for the life of the execution environment; the work is done by
`handle_request`, a plain function that takes its clock and S3 client
as arguments, so that tests, the local server (`make serve`) and the demo's traffic all run
exactly this code.

What it does, in order (docs/ingest.md has the status codes and examples):
OPTIONS -> CORS preflight; not POST -> 405; Content-Type not JSON -> 415; Content-Encoding
not gzip/identity -> 415; body (base64 and gzip undone, bounded to 1 MiB *after*
decompression) over the limit -> 413; not JSON / NaN / Infinity -> 400; 1-500 events checked
against contract v1; the valid ones, completed with the contract's defaults and an `ingest`
block, are written as ONE NDJSON object; 200 with what was accepted and rejected, or 400 when
nothing was.

The object is named after the request id (`events-<request id>.json`, a UUID5 of it when the
id is not a UUID), so a retried invocation of the same request in the same hour overwrites
its object instead of duplicating it. (A retry in a later hour writes a second object; the
warehouse drops repeated event ids.)

Deployment needs only the standard library, boto3 and the small `clickstream.contract`,
`clickstream.raw_layout`, `clickstream.config`, `clickstream.storage` and `clickstream.errors`
modules.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import os
import re
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from clickstream.config import Settings
from clickstream.contract import (
    MAX_BODY_BYTES,
    EnvelopeError,
    apply_defaults,
    events_of,
    validate_event,
)
from clickstream.errors import ClickstreamError, TerminalError
from clickstream.raw_layout import encode_ndjson, ingest_block, raw_object_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Clock = Callable[[], datetime]

ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_REQUEST_HEADERS = "Content-Type, Content-Encoding"
PREFLIGHT_MAX_AGE_SECONDS = 600
NDJSON_CONTENT_TYPE = "application/x-ndjson"
# How many rejection messages one log line carries (the client gets all of them).
LOGGED_REJECTIONS = 5
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# What an S3 bucket name can be, old us-east-1 names included (capitals, underscores): catches
# an empty RAW_BUCKET or an `s3://…` URL, leaves the fine rules to S3.
_BUCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,254}")
# An origin as browsers send it: scheme://host[:port], no path.
_ORIGIN = re.compile(r"https?://[^/\s]+")


# ------------------------------------------------------------------------ settings


class IngestSettingsError(TerminalError):
    """The environment does not describe a usable endpoint: a person must fix a variable."""


@dataclass(frozen=True)
class IngestSettings:
    """Where the raw objects go, who may call from a browser, how much the handler logs.

    `CORS_ALLOW_ORIGINS`: comma-separated origins allowed to call from a browser
    (`https://shop.example.com,http://127.0.0.1:8080`), or `*` for any; empty (the default)
    allows same-origin pages only. `LOG_LEVEL`: one of LOG_LEVELS (default INFO)."""

    raw_bucket: str
    raw_prefix: str
    cors_allow_origins: frozenset[str] = frozenset()
    max_body_bytes: int = MAX_BODY_BYTES
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> IngestSettings:
        """The settings of the environment; IngestSettingsError names every wrong variable."""
        storage = Settings.from_env(environ)
        origins = frozenset(
            origin.strip().rstrip("/")
            for origin in environ.get("CORS_ALLOW_ORIGINS", "").split(",")
            if origin.strip()
        )
        log_level = environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
        problems = []
        if not _BUCKET_NAME.fullmatch(storage.raw_bucket):
            problems.append(f"RAW_BUCKET: {storage.raw_bucket!r} is not an S3 bucket name")
        bad_origins = sorted(o for o in origins if o != "*" and not _ORIGIN.fullmatch(o))
        if bad_origins:
            problems.append(
                f"CORS_ALLOW_ORIGINS: {', '.join(map(repr, bad_origins))} "
                "not an origin like https://shop.example.com (or *)"
            )
        if log_level not in LOG_LEVELS:
            problems.append(f"LOG_LEVEL: {log_level!r} is not one of {', '.join(LOG_LEVELS)}")
        if problems:
            raise IngestSettingsError("invalid settings: " + "; ".join(problems))
        return cls(
            raw_bucket=storage.raw_bucket,
            raw_prefix=storage.raw_prefix,
            cors_allow_origins=origins,
            log_level=log_level,
        )

    def allows_origin(self, origin: str) -> bool:
        return "*" in self.cors_allow_origins or origin.rstrip("/") in self.cors_allow_origins


# ------------------------------------------------------------------------- logging


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line: CloudWatch Logs Insights and jq read the fields directly."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _StdoutHandler(logging.Handler):
    """Writes to whatever sys.stdout is at the time (Lambda sends stdout to CloudWatch)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def _build_logger() -> logging.Logger:
    """INFO until the settings set LOG_LEVEL (they are read on the first request)."""
    logger = logging.getLogger("clickstream.ingest")
    if not logger.handlers:
        log_handler = _StdoutHandler()
        log_handler.setFormatter(JsonLogFormatter())
        logger.addHandler(log_handler)
        logger.propagate = False  # the Lambda runtime's root handler would print it twice
        logger.setLevel(logging.INFO)
    return logger


LOGGER = _build_logger()


# -------------------------------------------------------------------------- errors


class RequestRejectedError(TerminalError):
    """The request as a whole cannot be accepted; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


# ------------------------------------------------------------------------ response


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)

    def to_apigw(self) -> dict[str, Any]:
        headers = dict(self.headers)
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        return {
            "statusCode": self.status,
            "headers": headers,
            "body": "" if self.body is None else json.dumps(self.body, ensure_ascii=False),
            "isBase64Encoded": False,
        }


# ------------------------------------------------------------------- request parts


def _header(event: Mapping[str, Any], name: str) -> str:
    """A request header (payload 2.0 lower-cases names; repeated headers are comma-joined)."""
    headers = event.get("headers") or {}
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name:
                return str(candidate)
        return ""
    return str(value)


def _http_context(event: Mapping[str, Any]) -> Mapping[str, Any]:
    request_context = event.get("requestContext") or {}
    http: Mapping[str, Any] = request_context.get("http") or {}
    return http


def request_id_of(event: Mapping[str, Any]) -> str:
    request_id = (event.get("requestContext") or {}).get("requestId")
    return str(request_id) if request_id else str(uuid.uuid4())


def object_id_for(request_id: str) -> str:
    """The raw object's id: the request id when it is a UUID, else a UUID5 of it (API Gateway's
    HTTP API ids contain `=` and could contain `/`)."""
    try:
        return str(uuid.UUID(request_id)) if len(request_id) == 36 else _uuid5(request_id)
    except ValueError:
        return _uuid5(request_id)


def _uuid5(request_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"clickstream-request:{request_id}"))


def _check_content_type(event: Mapping[str, Any]) -> None:
    content_type = _header(event, "content-type")
    media_type, _, parameters = content_type.partition(";")
    if media_type.strip().lower() != "application/json":
        raise RequestRejectedError(
            415, f"Content-Type must be application/json (got {content_type or 'none'!r})"
        )
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise RequestRejectedError(415, f"charset must be utf-8 (got {value.strip()!r})")


def _content_encoding(event: Mapping[str, Any]) -> str:
    encoding = _header(event, "content-encoding").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise RequestRejectedError(
            415, f"Content-Encoding must be gzip or identity (got {encoding!r})"
        )
    return encoding


def _too_large(limit: int) -> RequestRejectedError:
    return RequestRejectedError(413, f"body: larger than {limit} bytes")


def read_body(event: Mapping[str, Any], limit: int) -> bytes:
    """The request body as bytes, base64 and gzip undone, never more than `limit` bytes."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        if len(body) > (limit + 2) // 3 * 4 + 4:
            raise _too_large(limit)
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestRejectedError(400, "body: is not valid base64") from None
    else:
        raw = body.encode("utf-8")
    if len(raw) > limit:
        raise _too_large(limit)
    if _content_encoding(event) == "gzip":
        raw = gunzip_bounded(raw, limit)
    if len(raw) > limit:
        raise _too_large(limit)
    if not raw:
        raise RequestRejectedError(400, "body: is empty")
    return raw


def gunzip_bounded(compressed: bytes, limit: int) -> bytes:
    """Decompress at most `limit` + 1 bytes: a small gzip bomb cannot take the memory."""
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(compressed, limit + 1)
    except zlib.error:
        raise RequestRejectedError(400, "body: is not valid gzip") from None
    if len(data) > limit:
        raise RequestRejectedError(413, f"body: larger than {limit} bytes after decompression")
    if not decompressor.eof:
        raise RequestRejectedError(400, "body: gzip stream is truncated")
    if decompressor.unused_data:
        raise RequestRejectedError(400, "body: has data after the gzip stream")
    return data


def _refuse_constant(name: str) -> Any:
    raise RequestRejectedError(400, f"body: {name} is not valid JSON (numbers must be finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise RequestRejectedError(400, f"body: number {text[:40]} is too large (must be finite)")
    return value


def parse_json(raw: bytes) -> Any:
    """Standard JSON only: NaN, Infinity and numbers that overflow to infinity are refused."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestRejectedError(400, f"body: is not valid UTF-8 ({error.reason})") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise RequestRejectedError(400, f"body: is not valid JSON ({error})") from None
    except RecursionError:
        raise RequestRejectedError(400, "body: JSON is nested too deeply") from None
    except ValueError as error:  # e.g. an integer with more digits than Python converts
        raise RequestRejectedError(400, f"body: is not valid JSON ({error})") from None


# ------------------------------------------------------------------------ the work


@dataclass
class Outcome:
    """What became of a request's events: the lines to store and the rejections."""

    lines: list[dict[str, Any]]
    rejected: list[dict[str, Any]]


def sort_events(events: list[Any], block: dict[str, Any]) -> Outcome:
    """Validate each event; the valid ones are completed with defaults and the ingest block."""
    outcome = Outcome(lines=[], rejected=[])
    for index, event in enumerate(events):
        errors = validate_event(event)
        if errors:
            event_id = event.get("event_id") if type(event) is dict else None
            outcome.rejected.append(
                {
                    "index": index,
                    "event_id": event_id if type(event_id) is str else None,
                    "errors": errors,
                }
            )
            continue
        line = apply_defaults(event)
        line["ingest"] = block
        outcome.lines.append(line)
    return outcome


def _cors_headers(event: Mapping[str, Any], settings: IngestSettings) -> dict[str, str]:
    origin = _header(event, "origin")
    if not origin or not settings.allows_origin(origin):
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _preflight(event: Mapping[str, Any], settings: IngestSettings) -> Reply:
    origin = _header(event, "origin")
    if origin and not settings.allows_origin(origin):
        raise RequestRejectedError(
            403, f"origin {origin!r} is not allowed (see CORS_ALLOW_ORIGINS)"
        )
    return Reply(
        204,
        None,
        {
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        },
    )


def _ingest(
    event: Mapping[str, Any],
    request_id: str,
    *,
    s3: S3Client,
    settings: IngestSettings,
    now: Clock,
    log_fields: dict[str, Any],
) -> Reply:
    _check_content_type(event)
    raw = read_body(event, settings.max_body_bytes)
    try:
        events = events_of(parse_json(raw))
    except EnvelopeError as error:
        raise RequestRejectedError(error.status, str(error)) from None
    received_at = now()
    http = _http_context(event)
    block = ingest_block(
        received_at,
        request_id,
        http.get("sourceIp"),
        _header(event, "user-agent") or http.get("userAgent"),
    )
    outcome = sort_events(events, block)
    log_fields.update(
        events=len(events), accepted=len(outcome.lines), rejected=len(outcome.rejected)
    )
    if outcome.rejected:
        log_fields["rejections"] = outcome.rejected[:LOGGED_REJECTIONS]
    answer: dict[str, Any] = {
        "accepted": len(outcome.lines),
        "rejected": outcome.rejected,
        "request_id": request_id,
    }
    if not outcome.lines:
        answer["error"] = "no event was accepted: every event breaks the contract"
        return Reply(400, answer)
    key = raw_object_key(settings.raw_prefix, received_at, object_id_for(request_id))
    body = encode_ndjson(outcome.lines)
    try:
        s3.put_object(
            Bucket=settings.raw_bucket, Key=key, Body=body, ContentType=NDJSON_CONTENT_TYPE
        )
    except Exception as error:  # botocore raises many unrelated classes for one cause
        log_fields["storage_error"] = f"{type(error).__name__}: {error}"
        raise RequestRejectedError(
            503, "the events could not be stored; send them again later", {"Retry-After": "5"}
        ) from None
    log_fields.update(s3_key=key, bytes=len(body))
    return Reply(200, answer)


def handle_request(
    event: Mapping[str, Any],
    *,
    s3: S3Client | Callable[[], S3Client],
    settings: IngestSettings,
    now: Clock,
    invocation_id: str | None = None,
) -> dict[str, Any]:
    """Answer one payload-2.0 request; never raises and never shows a traceback to a client.

    `s3` may be a client or a function that returns one (only called when there is something
    to write). `now` is the clock that sets `received_at` and the hour partition.
    `invocation_id` (the Lambda's own request id) only goes to the log."""
    started = time.perf_counter()
    request_id = request_id_of(event)
    method = str(_http_context(event).get("method", "")).upper()
    log_fields: dict[str, Any] = {"request_id": request_id, "method": method}
    if invocation_id:
        log_fields["invocation_id"] = invocation_id
    try:
        if method == "OPTIONS":
            reply = _preflight(event, settings)
        elif method != "POST":
            raise RequestRejectedError(
                405,
                f"method {method or 'none'} is not allowed: use POST",
                {"Allow": ALLOWED_METHODS},
            )
        else:
            reply = _ingest(
                event,
                request_id,
                s3=_resolve(s3),
                settings=settings,
                now=now,
                log_fields=log_fields,
            )
    except RequestRejectedError as error:
        reply = Reply(error.status, {"error": str(error), "request_id": request_id}, error.headers)
    except Exception:
        LOGGER.exception("request failed", extra={"fields": log_fields})
        reply = Reply(500, {"error": "internal error", "request_id": request_id})
    reply.headers.update(_cors_headers(event, settings))
    if reply.body is not None and "error" in reply.body:
        log_fields["error"] = reply.body["error"]
    elapsed_ms = 1000 * (time.perf_counter() - started)
    log_fields.update(status=reply.status, duration_ms=round(elapsed_ms, 2))
    level = logging.ERROR if reply.status >= 500 else logging.INFO
    LOGGER.log(level, "request answered", extra={"fields": log_fields})
    return reply.to_apigw()


def _resolve(s3: S3Client | Callable[[], S3Client]) -> S3Client:
    """A client as given, or the one a factory makes (so OPTIONS and 4xx never build one)."""
    if hasattr(s3, "put_object"):
        return s3  # type: ignore[return-value]
    return s3()


# ----------------------------------------------------------------------- the Lambda

_s3_client: S3Client | None = None


@functools.cache
def lambda_settings() -> IngestSettings:
    """The Lambda's settings, read from the environment on the first request and kept for the
    life of the execution environment. IngestSettingsError when a variable is wrong (not
    cached: every request says so, and nothing is written anywhere wrong)."""
    settings = IngestSettings.from_env()
    LOGGER.setLevel(settings.log_level)
    return settings


def _lambda_s3() -> S3Client:
    """Made on first use and kept for the life of the execution environment."""
    global _s3_client
    if _s3_client is None:
        from clickstream.storage import s3_client

        _s3_client = s3_client()
    return _s3_client


def _utc_now() -> datetime:
    return datetime.now(UTC)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (API Gateway HTTP API, payload format 2.0)."""
    invocation_id = getattr(context, "aws_request_id", None)
    try:
        settings = lambda_settings()
    except ClickstreamError as error:
        return _misconfigured(event, error, invocation_id)
    return handle_request(
        event, s3=_lambda_s3, settings=settings, now=_utc_now, invocation_id=invocation_id
    )


def _misconfigured(
    event: Mapping[str, Any], error: ClickstreamError, invocation_id: str | None
) -> dict[str, Any]:
    """500, and the wrong variables in the log (the caller is not told the configuration)."""
    request_id = request_id_of(event)
    LOGGER.error(
        "the ingest endpoint is misconfigured",
        extra={
            "fields": {
                "request_id": request_id,
                "invocation_id": invocation_id,
                "error": str(error),
                "status": 500,
            }
        },
    )
    reply = Reply(500, {"error": "the ingest endpoint is misconfigured", "request_id": request_id})
    return reply.to_apigw()
