"""The ETL Lambda's handler on an EventBridge scheduled event, against the local services."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import boto3
import pytest

from clickstream.errors import WarehouseUnreachableError
from clickstream.storage import s3_client
from devtools.traffic import generate_requests, write_requests_to_s3
from lambdas.etl import handler as etl
from tests.conftest import load_fixture


@dataclass
class LambdaContext:
    aws_request_id: str = "4c5d0a6e-2f4b-4c1e-9a53-0d6f2b7e8a19"
    function_name: str = "clickstream-etl"


@pytest.fixture
def etl_logs(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[dict]]]:
    """Reads the handler's log lines so far, formatted as CloudWatch receives them."""
    logger = logging.getLogger("clickstream.etl")
    logger.addHandler(caplog.handler)
    formatter = etl._JsonFormatter()
    try:
        yield lambda: [json.loads(formatter.format(record)) for record in caplog.records]
    finally:
        logger.removeHandler(caplog.handler)


def test_scheduled_event_loads_the_new_objects_and_returns_the_summary(
    warehouse_db: str, raw_bucket: str
) -> None:
    requests = list(generate_requests(200, 1, date(2026, 3, 2), seed=4, retry_rate=0))
    write_requests_to_s3(requests, raw_bucket, "events/", s3_client())
    event = load_fixture("aws/eventbridge_scheduled.json")

    result = etl.handler(event, LambdaContext())

    assert result["status"] == "ok"
    assert result["request_id"] == LambdaContext.aws_request_id
    assert (result["objects"], result["lines_loaded"], result["lines_rejected"]) == (
        len(requests),
        200,
        0,
    )
    assert result["events_per_second"] > 0
    json.dumps(result)  # what Lambda returns must serialise
    assert etl.handler(event, LambdaContext())["objects"] == 0


def test_the_log_lines_are_json_with_the_request_id(
    warehouse_db: str, raw_bucket: str, etl_logs: Callable[[], list[dict]]
) -> None:
    result = etl.handler(load_fixture("aws/eventbridge_scheduled.json"), LambdaContext())
    started, finished = etl_logs()
    assert started["message"] == "load started"
    assert started["request_id"] == LambdaContext.aws_request_id
    assert started["scheduled_time"] == "2026-11-22T03:00:00Z"
    assert finished["message"] == "load finished"
    assert finished["level"] == "INFO"
    assert finished["objects"] == result["objects"] == 0


def test_an_unreachable_warehouse_fails_the_run_with_a_logged_reason(
    raw_bucket: str, monkeypatch: pytest.MonkeyPatch, etl_logs: Callable[[], list[dict]]
) -> None:
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", "1")
    with pytest.raises(WarehouseUnreachableError, match="cannot reach the warehouse"):
        etl.handler(load_fixture("aws/eventbridge_scheduled.json"), LambdaContext())
    _, failed = etl_logs()
    assert failed["message"] == "load failed"
    assert failed["level"] == "ERROR"
    assert failed["request_id"] == LambdaContext.aws_request_id
    assert failed["error_type"] == "WarehouseUnreachableError"
    assert failed["error"].startswith("cannot reach the warehouse at postgresql://127.0.0.1:1/")
    assert failed["retryable"] is True


def test_the_warehouse_password_comes_from_the_secret(services: dict[str, str]) -> None:
    client = boto3.client("secretsmanager")
    name = f"test-etl-{uuid.uuid4().hex[:8]}"
    arn = client.create_secret(
        Name=name, SecretString=json.dumps({"username": "clickstream_etl", "password": "s3cr3t"})
    )["ARN"]
    try:
        environ = {etl.SECRET_ARN_VARIABLE: arn, "PGUSER": "someone"}
        etl.apply_warehouse_secret(environ)
        assert environ["PGUSER"] == "clickstream_etl"
        assert environ["PGPASSWORD"] == "s3cr3t"
        untouched = {"PGPASSWORD": "local"}
        etl.apply_warehouse_secret(untouched)
        assert untouched == {"PGPASSWORD": "local"}
    finally:
        client.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
