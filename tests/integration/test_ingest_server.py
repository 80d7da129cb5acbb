"""`make serve` over real HTTP on loopback, and the demo's path through the handler."""

from __future__ import annotations

import gzip
import http.client
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from clickstream.storage import s3_client
from devtools.traffic import generate_requests, s3_sink, write_requests
from lambdas.ingest.handler import IngestSettings
from lambdas.ingest.local import IngestRejectedError, handler_sink, send_request
from lambdas.ingest.server import IngestServer, running_server
from tests.conftest import load_fixture

ORIGIN = "http://127.0.0.1:8080"


@pytest.fixture
def server(raw_bucket: str) -> Iterator[IngestServer]:
    settings = IngestSettings(
        raw_bucket=raw_bucket, raw_prefix="events/", cors_allow_origins=frozenset({ORIGIN})
    )
    with running_server(settings=settings) as running:
        yield running


def request(
    server: IngestServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def objects(bucket: str) -> dict[str, list[dict[str, Any]]]:
    client = s3_client()
    found = {}
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        raw = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        found[item["Key"]] = [json.loads(line) for line in raw.splitlines()]
    return found


def batch_body() -> bytes:
    return load_fixture("apigw/post_batch.json")["body"].encode("utf-8")


def test_a_post_goes_through_the_handler_to_s3(server: IngestServer, raw_bucket: str) -> None:
    status, headers, body = request(
        server,
        "POST",
        "/clickstream",
        batch_body(),
        {"Content-Type": "application/json", "User-Agent": "pytest", "Origin": ORIGIN},
    )
    answer = json.loads(body)
    assert (status, answer["accepted"], answer["rejected"]) == (200, 3, [])
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    (key,) = objects(raw_bucket)
    assert key.endswith(f"events-{answer['request_id']}.json")
    lines = objects(raw_bucket)[key]
    assert [line["ingest"]["source_ip"] for line in lines] == ["127.0.0.0"] * 3
    assert lines[0]["ingest"]["user_agent"] == "pytest"


def test_gzip_over_http(server: IngestServer, raw_bucket: str) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    status, _, body = request(server, "POST", "/clickstream", gzip.compress(batch_body()), headers)
    assert (status, json.loads(body)["accepted"]) == (200, 3)


def test_bad_requests_over_http(server: IngestServer, raw_bucket: str) -> None:
    too_big = b" " * (1024 * 1024 + 1)
    json_type = {"Content-Type": "application/json"}
    assert request(server, "POST", "/clickstream", too_big, json_type)[0] == 413
    assert request(server, "POST", "/clickstream", b"{}", {"Content-Type": "text/plain"})[0] == 415
    assert request(server, "DELETE", "/clickstream")[0] == 405
    status, _, body = request(server, "POST", "/clickstream", b"[NaN]", json_type)
    assert (status, json.loads(body)["error"]) == (
        400,
        "body: NaN is not valid JSON (numbers must be finite)",
    )
    assert request(server, "POST", "/elsewhere", b"{}", json_type)[0] == 404
    assert objects(raw_bucket) == {}


def test_preflight_over_http(server: IngestServer) -> None:
    headers = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    status, answer_headers, _ = request(server, "OPTIONS", "/clickstream", headers=headers)
    assert status == 204
    assert answer_headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert answer_headers["Access-Control-Allow-Origin"] == ORIGIN


def test_the_tracker_and_the_shop_are_served(server: IngestServer) -> None:
    status, headers, body = request(server, "GET", "/")
    assert (status, headers["Location"]) == (302, "/shop/")
    status, _, body = request(server, "GET", "/shop/")
    assert status == 200
    assert b'<script src="/clickstream.js"' in body
    status, headers, body = request(server, "GET", "/clickstream.js")
    assert status == 200
    assert b"window.clickstream" in body
    status, _, body = request(server, "GET", "/shop/catalogue.json")
    assert {p["category"] for p in json.loads(body)["products"]} >= {"laptops", "monitors"}


# --------------------------------------------------------------- the demo's traffic path


def test_generated_traffic_through_the_handler_matches_the_direct_writer(
    raw_bucket: str,
) -> None:
    """handler_sink writes exactly what devtools.traffic's s3_sink writes: same keys,
    same bytes. So `make demo` through the handler exercises the real path losslessly."""
    requests = list(generate_requests(100, 1, date(2026, 3, 2), seed=11))
    client = s3_client()
    settings = IngestSettings(raw_bucket=raw_bucket, raw_prefix="through-handler/")
    write_requests(requests, handler_sink(client, settings))
    write_requests(requests, s3_sink(raw_bucket, "direct/", client))
    found = objects(raw_bucket)
    via_handler = {
        k.removeprefix("through-handler/"): v
        for k, v in found.items()
        if k.startswith("through-handler/")
    }
    direct = {k.removeprefix("direct/"): v for k, v in found.items() if k.startswith("direct/")}
    assert len(via_handler) == len(requests)
    assert via_handler == direct


def test_the_sink_stops_on_an_event_the_handler_rejects(raw_bucket: str) -> None:
    (first, *_) = generate_requests(5, 1, date(2026, 3, 2), seed=1)
    broken = type(first)(
        events=({**first.events[0], "event_name": "click"},),
        received_at=first.received_at,
        request_id=first.request_id,
        source_ip=first.source_ip,
        user_agent=first.user_agent,
    )
    settings = IngestSettings(raw_bucket=raw_bucket, raw_prefix="events/")
    with pytest.raises(IngestRejectedError, match="event_name: must be one of"):
        handler_sink(s3_client(), settings)(broken)


def test_send_request_uses_the_simulated_clock(raw_bucket: str) -> None:
    (first, *_) = generate_requests(5, 1, date(2026, 3, 2), seed=1)
    answer = send_request(first.events, received_at=first.received_at, request_id="demo-request-1")
    assert (answer.status, answer.body["accepted"]) == (200, len(first.events))
    (key,) = objects(raw_bucket)
    assert key.startswith(f"events/{first.received_at:%Y/%m/%d/%H}/events-")
