"""The ingest handler on API Gateway payload-2.0 fixtures (tests/fixtures/apigw/), reading back
what landed in a real S3 bucket."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from clickstream.config import PROJECT_ROOT
from clickstream.raw_layout import encode_ndjson
from clickstream.storage import s3_client
from lambdas.ingest import handler as handler_module
from lambdas.ingest.handler import (
    IngestSettings,
    IngestSettingsError,
    handle_request,
    object_id_for,
)
from tests.conftest import load_fixture

NOW = datetime(2026, 3, 2, 17, 4, 6, 250_000, tzinfo=UTC)
SHOP = "https://shop.example.com"
FIXTURE_REQUEST_ID = "JKJaXmPLvHcESHA="
FIXTURE_KEY = f"events/2026/03/02/17/events-{object_id_for(FIXTURE_REQUEST_ID)}.json"


def settings_for(bucket: str, origins: tuple[str, ...] = (SHOP,)) -> IngestSettings:
    return IngestSettings(
        raw_bucket=bucket, raw_prefix="events/", cors_allow_origins=frozenset(origins)
    )


def fixture(name: str) -> dict[str, Any]:
    event: dict[str, Any] = load_fixture(f"apigw/{name}.json")
    return event


def call(
    event: dict[str, Any] | str,
    bucket: str,
    *,
    settings: IngestSettings | None = None,
    now: Callable[[], datetime] = lambda: NOW,
) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
    request = fixture(event) if isinstance(event, str) else event
    response = handle_request(
        request, s3=s3_client(), settings=settings or settings_for(bucket), now=now
    )
    body = json.loads(response["body"]) if response["body"] else None
    return response["statusCode"], body, response["headers"]


def stored(bucket: str) -> dict[str, list[dict[str, Any]]]:
    """Every object of the bucket, parsed line by line."""
    client = s3_client()
    objects = {}
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        raw = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        assert raw.endswith(b"\n")
        objects[item["Key"]] = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    return objects


def with_body(event: dict[str, Any], body: str | bytes, **headers: str) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    if isinstance(body, bytes):
        changed["body"] = base64.b64encode(body).decode("ascii")
        changed["isBase64Encoded"] = True
    else:
        changed["body"] = body
        changed["isBase64Encoded"] = False
    changed["headers"].update(headers)
    return changed


def batch_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(fixture("post_batch")["body"])["events"]
    return events


# ------------------------------------------------------------------------ accepted


def test_one_event_is_stored_with_defaults_and_the_ingest_block(raw_bucket: str) -> None:
    status, body, headers = call("post_single_event", raw_bucket)
    assert status == 200
    assert body == {"accepted": 1, "rejected": [], "request_id": FIXTURE_REQUEST_ID}
    assert headers["Access-Control-Allow-Origin"] == SHOP
    objects = stored(raw_bucket)
    assert list(objects) == [FIXTURE_KEY]
    (line,) = objects[FIXTURE_KEY]
    assert line["event_name"] == "page_view"
    assert line["user_login_state"] == "guest"
    assert line["is_first_visit"] is False
    assert line["ingest"] == {
        "received_at": "2026-03-02T17:04:06.250Z",
        "request_id": FIXTURE_REQUEST_ID,
        "source_ip": "198.51.100.0",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    }


def test_a_batch_is_one_ndjson_object_in_order(raw_bucket: str) -> None:
    status, body, _ = call("post_batch", raw_bucket)
    assert (status, body and body["accepted"]) == (200, 3)
    client = s3_client()
    raw = client.get_object(Bucket=raw_bucket, Key=FIXTURE_KEY)["Body"].read()
    lines = [json.loads(line) for line in raw.splitlines()]
    assert [line["event_id"] for line in lines] == [e["event_id"] for e in batch_events()]
    assert raw == encode_ndjson(lines)  # compact, UTF-8, one a line
    head = client.head_object(Bucket=raw_bucket, Key=FIXTURE_KEY)
    assert head["ContentType"] == "application/x-ndjson"


@pytest.mark.parametrize("name", ["post_base64", "post_gzip"])
def test_base64_and_gzip_bodies_store_the_same_events(raw_bucket: str, name: str) -> None:
    status, body, _ = call(name, raw_bucket)
    assert (status, body and body["accepted"]) == (200, 3)
    lines = stored(raw_bucket)[FIXTURE_KEY]
    assert [line["event_id"] for line in lines] == [e["event_id"] for e in batch_events()]


def test_mixed_batch_keeps_the_valid_and_explains_the_rest(raw_bucket: str) -> None:
    status, body, _ = call("post_mixed", raw_bucket)
    assert status == 200
    assert body is not None
    assert body["accepted"] == 2
    assert body["rejected"] == [
        {
            "index": 1,
            "event_id": "5f0e8c3a-1b2d-4c6e-8f9a-0b1c2d3e4f02",
            "errors": [
                "event_name: must be one of page_view, product_view, add_to_cart, "
                'remove_from_cart, checkout, purchase, consent_update, page_ping (got "click")'
            ],
        },
        {
            "index": 3,
            "event_id": "not-a-uuid",
            "errors": [
                "event_id: must be a UUID like 123e4567-e89b-12d3-a456-426614174000 "
                '(got "not-a-uuid")',
                "context.product: is required for purchase events",
            ],
        },
    ]
    lines = stored(raw_bucket)[FIXTURE_KEY]
    assert [line["event_name"] for line in lines] == ["page_view", "add_to_cart"]
    assert lines[1]["context"]["product"]["quantity"] == 1  # the contract's default


def test_consent_events_are_validated_through_the_contract(raw_bucket: str) -> None:
    """consent_state and consent_update (issue 14.1): stored as they came when valid, a
    consent_update without its new state rejected; events without the field stay valid."""
    page_view, *_ = batch_events()
    granted = {**page_view, "event_id": str(uuid.uuid4()), "consent_state": "granted"}
    update = {**granted, "event_id": str(uuid.uuid4()), "event_name": "consent_update"}
    stateless_update = {**update, "event_id": str(uuid.uuid4()), "consent_state": None}
    events = [page_view, granted, update, stateless_update]
    request = with_body(fixture("post_batch"), json.dumps({"events": events}))
    status, body, _ = call(request, raw_bucket)
    assert status == 200
    assert body is not None
    assert body["accepted"] == 3
    assert body["rejected"] == [
        {
            "index": 3,
            "event_id": stateless_update["event_id"],
            "errors": ["consent_state: is required for consent_update events"],
        }
    ]
    lines = stored(raw_bucket)[FIXTURE_KEY]
    assert [(line["event_name"], line.get("consent_state")) for line in lines] == [
        (page_view["event_name"], None),
        (page_view["event_name"], "granted"),
        ("consent_update", "granted"),
    ]
    assert "consent_state" not in lines[0]  # no default: absent means no consent mode


def test_a_retried_invocation_overwrites_its_object(raw_bucket: str) -> None:
    call("post_batch", raw_bucket)
    call("post_batch", raw_bucket)
    objects = stored(raw_bucket)
    assert list(objects) == [FIXTURE_KEY]
    assert len(objects[FIXTURE_KEY]) == 3


def test_a_uuid_request_id_names_the_object_directly(raw_bucket: str) -> None:
    event = fixture("post_single_event")
    request_id = str(uuid.uuid4())
    event["requestContext"]["requestId"] = request_id
    call(event, raw_bucket)
    assert list(stored(raw_bucket)) == [f"events/2026/03/02/17/events-{request_id}.json"]


class FakeLambdaContext:
    """The few attributes of the Lambda runtime's context object that the handler reads."""

    aws_request_id = "9f1b2c3d-0000-4000-8000-000000000001"


@pytest.fixture
def fresh_lambda_settings() -> Iterator[None]:
    """The Lambda's settings as in a new execution environment: read on the next request."""
    handler_module.lambda_settings.cache_clear()
    yield
    handler_module.lambda_settings.cache_clear()
    handler_module.LOGGER.setLevel("INFO")


def test_the_lambda_entry_point_reads_its_settings_on_the_first_request_and_keeps_them(
    raw_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_lambda_settings: None,
) -> None:
    monkeypatch.setenv("RAW_BUCKET", raw_bucket)
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", SHOP)
    response = handler_module.handler(fixture("post_batch"), FakeLambdaContext())
    assert response["statusCode"] == 200
    assert response["headers"]["Access-Control-Allow-Origin"] == SHOP
    ((key, lines),) = stored(raw_bucket).items()  # under the hour of the real clock
    assert key.endswith(f"/events-{object_id_for(FIXTURE_REQUEST_ID)}.json")
    assert len(lines) == 3
    log = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert log["invocation_id"] == FakeLambdaContext.aws_request_id
    # Kept for the life of the execution environment: read once, not at every request.
    monkeypatch.setenv("RAW_BUCKET", "not-read-again")
    assert handler_module.lambda_settings().raw_bucket == raw_bucket


IMPORT_THEN_REQUEST = """
import json, sys
import lambdas.ingest.handler as handler
print("imported", flush=True)
event = json.loads(sys.stdin.read())
print(json.dumps(handler.handler(event, None)), flush=True)
"""


def test_the_handler_imports_without_its_environment_and_the_first_request_says_what_is_wrong(
    raw_bucket: str,
) -> None:
    environment = {
        "PATH": os.environ["PATH"],
        "RAW_BUCKET": "",
        "CORS_ALLOW_ORIGINS": "shop.example.com",
        "LOG_LEVEL": "loud",
    }
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_THEN_REQUEST],
        input=json.dumps(fixture("post_batch")),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=environment,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    imported, log_line, answer_line = result.stdout.splitlines()
    assert imported == "imported"
    log, answer = json.loads(log_line), json.loads(answer_line)
    assert (log["level"], log["message"]) == ("ERROR", "the ingest endpoint is misconfigured")
    assert log["error"] == (
        "invalid settings: RAW_BUCKET: '' is not an S3 bucket name; "
        "CORS_ALLOW_ORIGINS: 'shop.example.com' not an origin like https://shop.example.com "
        "(or *); LOG_LEVEL: 'LOUD' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    )
    assert log["request_id"] == FIXTURE_REQUEST_ID
    assert answer["statusCode"] == 500
    assert json.loads(answer["body"]) == {
        "error": "the ingest endpoint is misconfigured",
        "request_id": FIXTURE_REQUEST_ID,
    }
    assert stored(raw_bucket) == {}


# ------------------------------------------------------------------------ rejected


def test_all_invalid_is_400_with_every_reason_and_nothing_stored(raw_bucket: str) -> None:
    status, body, _ = call("post_all_invalid", raw_bucket)
    assert status == 400
    assert body is not None
    assert body["accepted"] == 0
    assert body["error"] == "no event was accepted: every event breaks the contract"
    assert [r["errors"] for r in body["rejected"]] == [
        [
            "event_timestamp: must be an RFC 3339 timestamp with an offset, like "
            '2026-03-01T12:34:56.789Z (got "2026-03-02 18:04:05")'
        ],
        [
            "session_id: must not be null",
            "context.product.price: must be a number between 0 and 1000000000 (got -5)",
        ],
    ]
    assert stored(raw_bucket) == {}


@pytest.mark.parametrize(
    ("name", "status", "error"),
    [
        ("post_gzip_bomb", 413, "body: larger than 1048576 bytes after decompression"),
        ("post_too_many_events", 413, "events: at most 500 events per request (got 501)"),
        (
            "post_wrong_content_type",
            415,
            "Content-Type must be application/json (got 'text/plain;charset=UTF-8')",
        ),
        ("post_nan", 400, "body: NaN is not valid JSON (numbers must be finite)"),
        ("get_wrong_method", 405, "method GET is not allowed: use POST"),
    ],
)
def test_bad_requests_get_the_right_status_and_message(
    raw_bucket: str, name: str, status: int, error: str
) -> None:
    answer_status, body, headers = call(name, raw_bucket)
    assert (answer_status, body) == (status, {"error": error, "request_id": FIXTURE_REQUEST_ID})
    assert stored(raw_bucket) == {}
    if status == 405:
        assert headers["Allow"] == "POST, OPTIONS"


def test_a_body_over_one_mib_is_413(raw_bucket: str) -> None:
    event = fixture("post_batch")
    padded = with_body(event, event["body"] + " " * (1024 * 1024))
    assert call(padded, raw_bucket)[:2] == (
        413,
        {"error": "body: larger than 1048576 bytes", "request_id": FIXTURE_REQUEST_ID},
    )
    just_fits = with_body(event, event["body"] + " " * (1024 * 1024 - len(event["body"])))
    assert call(just_fits, raw_bucket)[0] == 200


@pytest.mark.parametrize(
    ("body", "headers", "error"),
    [
        ("", {}, "body: is empty"),
        ("[1, 2]", {}, 'body: must be one event object or {"events": [...]} (got [1, 2])'),
        ('{"events": []}', {}, "events: must hold at least 1 event"),
        ('{"events": "x"}', {}, 'events: must be an array of events (got "x")'),
        (
            '{"event_id": ',
            {},
            "body: is not valid JSON (Expecting value: line 1 column 14 (char 13))",
        ),
        ('{"price": Infinity}', {}, "body: Infinity is not valid JSON (numbers must be finite)"),
        ('{"price": -Infinity}', {}, "body: -Infinity is not valid JSON (numbers must be finite)"),
        ('{"x": 1e999}', {}, "body: number 1e999 is too large (must be finite)"),
        ("[" * 100_000 + "]" * 100_000, {}, "body: JSON is nested too deeply"),
        (b"\xff\xfe{}", {}, "body: is not valid UTF-8 (invalid start byte)"),
        (b"not gzip", {"content-encoding": "gzip"}, "body: is not valid gzip"),
        (
            # mtime=0: a fixed header keeps the test id the same in every pytest-xdist worker
            gzip.compress(b'{"events": [{}]}', mtime=0)[:-12],
            {"content-encoding": "gzip"},
            "body: gzip stream is truncated",
        ),
        ("{}", {"content-encoding": "br"}, "Content-Encoding must be gzip or identity (got 'br')"),
        ("{}", {"content-type": ""}, "Content-Type must be application/json (got 'none')"),
        (
            "{}",
            {"content-type": "application/json; charset=latin-1"},
            "charset must be utf-8 (got 'latin-1')",
        ),
    ],
)
def test_malformed_bodies_get_a_clear_message(
    raw_bucket: str, body: str | bytes, headers: dict[str, str], error: str
) -> None:
    event = with_body(fixture("post_single_event"), body, **headers)
    status, answer, _ = call(event, raw_bucket)
    assert answer == {"error": error, "request_id": FIXTURE_REQUEST_ID}
    assert status in (400, 415)


def test_invalid_base64_is_400(raw_bucket: str) -> None:
    event = fixture("post_base64")
    event["body"] = "not*base64"
    assert call(event, raw_bucket)[:2] == (
        400,
        {"error": "body: is not valid base64", "request_id": FIXTURE_REQUEST_ID},
    )


# ------------------------------------------------------------------------------ CORS


def test_preflight_from_an_allowed_origin(raw_bucket: str) -> None:
    status, body, headers = call("options_preflight", raw_bucket)
    assert (status, body) == (204, None)
    assert headers == {
        "Access-Control-Allow-Origin": SHOP,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, Content-Encoding",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def test_preflight_from_another_origin_is_refused(raw_bucket: str) -> None:
    settings = settings_for(raw_bucket, origins=("https://other.example.org",))
    status, body, headers = call("options_preflight", raw_bucket, settings=settings)
    assert status == 403
    assert body == {
        "error": "origin 'https://shop.example.com' is not allowed (see CORS_ALLOW_ORIGINS)",
        "request_id": FIXTURE_REQUEST_ID,
    }
    assert "Access-Control-Allow-Origin" not in headers


def test_a_post_from_another_origin_is_stored_but_not_readable_by_its_page(
    raw_bucket: str,
) -> None:
    status, _, headers = call(
        "post_single_event", raw_bucket, settings=settings_for(raw_bucket, ())
    )
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers
    assert len(stored(raw_bucket)) == 1


def test_cors_settings_come_from_the_environment() -> None:
    settings = IngestSettings.from_env(
        {"CORS_ALLOW_ORIGINS": " https://a.example.com/, http://127.0.0.1:8080 ,,"}
    )
    assert settings.cors_allow_origins == {"https://a.example.com", "http://127.0.0.1:8080"}
    assert settings.allows_origin("https://a.example.com")
    assert not settings.allows_origin("https://b.example.com")
    assert IngestSettings.from_env({"CORS_ALLOW_ORIGINS": "*"}).allows_origin("https://b.example")
    assert IngestSettings.from_env({}).cors_allow_origins == frozenset()


def test_settings_name_each_wrong_variable() -> None:
    with pytest.raises(IngestSettingsError, match=r"RAW_BUCKET: 's3://raw' is not an S3 bucket"):
        IngestSettings.from_env({"RAW_BUCKET": "s3://raw"})
    with pytest.raises(IngestSettingsError, match=r"CORS_ALLOW_ORIGINS: 'ftp://a.example' not"):
        IngestSettings.from_env({"CORS_ALLOW_ORIGINS": "https://b.example,ftp://a.example"})
    assert IngestSettings.from_env({"LOG_LEVEL": "warning"}).log_level == "WARNING"


# ------------------------------------------------------------------ failures and logs


def test_an_unreachable_bucket_is_503_and_logged(capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(f"missing-{uuid.uuid4().hex[:12]}")
    status, body, headers = call("post_batch", "unused", settings=settings)
    assert (status, body) == (
        503,
        {
            "error": "the events could not be stored; send them again later",
            "request_id": FIXTURE_REQUEST_ID,
        },
    )
    assert headers["Retry-After"] == "5"
    log = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert log["level"] == "ERROR"
    assert log["request_id"] == FIXTURE_REQUEST_ID
    assert "NoSuchBucket" in log["storage_error"]


def test_an_unexpected_error_is_a_generic_500_with_the_trace_only_in_the_log(
    raw_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken_clock() -> datetime:
        raise RuntimeError("clock exploded")

    status, body, _ = call("post_batch", raw_bucket, now=broken_clock)
    assert (status, body) == (500, {"error": "internal error", "request_id": FIXTURE_REQUEST_ID})
    logs = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    failure = next(entry for entry in logs if entry["message"] == "request failed")
    assert failure["request_id"] == FIXTURE_REQUEST_ID
    assert "RuntimeError: clock exploded" in failure["exception"]
    assert stored(raw_bucket) == {}


def test_every_request_logs_one_json_line_with_its_request_id(
    raw_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    call("post_mixed", raw_bucket)
    (line,) = capsys.readouterr().out.strip().splitlines()
    log = json.loads(line)
    assert log["message"] == "request answered"
    assert {
        key: log[key] for key in ("request_id", "status", "accepted", "rejected", "s3_key")
    } == {
        "request_id": FIXTURE_REQUEST_ID,
        "status": 200,
        "accepted": 2,
        "rejected": 2,
        "s3_key": FIXTURE_KEY,
    }
    assert log["rejections"][0]["index"] == 1
