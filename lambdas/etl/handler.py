"""The hourly ETL Lambda (EventBridge `rate(1 hour)`): loads the new raw objects into
staging.raw_events with extract_load and returns the summary.

Thin on purpose: the work is `extract_load.loader.load_new_objects`, which tests call
directly. Settings come from the environment (RAW_BUCKET, RAW_PREFIX, PG*); in AWS the
warehouse password is read from the Secrets Manager secret named by WAREHOUSE_SECRET_ARN
(`{"username": ..., "password": ...}`) at every run, so a rotated password is picked up.
A failed run raises (the invocation fails, EventBridge retries it, then the dead-letter
queue): re-running is always safe, the loader is exactly-once.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from functools import cache
from typing import Any

from clickstream.config import Settings
from clickstream.errors import ClickstreamError, TerminalError, TransientError
from extract_load.loader import load_new_objects

SECRET_ARN_VARIABLE = "WAREHOUSE_SECRET_ARN"  # noqa: S105 (a variable name, not a secret)


class _JsonFormatter(logging.Formatter):
    """One JSON object a line: CloudWatch Logs Insights can query every field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, default=str)


def _build_logger() -> logging.Logger:
    logger = logging.getLogger("clickstream.etl")
    if not logger.handlers:
        stream = logging.StreamHandler(sys.stdout)
        stream.setFormatter(_JsonFormatter())
        logger.addHandler(stream)
        logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
        logger.propagate = False
    return logger


logger = _build_logger()


@cache
def _secrets_client() -> Any:
    import boto3

    return boto3.client("secretsmanager")


def apply_warehouse_secret(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Set PGUSER/PGPASSWORD from the secret when WAREHOUSE_SECRET_ARN names one."""
    arn = environ.get(SECRET_ARN_VARIABLE)
    if not arn:
        return
    try:
        secret = json.loads(_secrets_client().get_secret_value(SecretId=arn)["SecretString"])
    except Exception as error:  # botocore's many classes, or a malformed secret
        raise TransientError(f"cannot read the warehouse secret {arn}: {error}") from error
    if secret.get("username"):
        environ["PGUSER"] = secret["username"]
    environ["PGPASSWORD"] = secret["password"]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = getattr(context, "aws_request_id", None)
    fields = {"request_id": request_id, "scheduled_time": event.get("time")}
    logger.info("load started", extra={"fields": fields})
    started = time.monotonic()
    try:
        apply_warehouse_secret()
        summary = load_new_objects(settings=Settings.from_env())
    except ClickstreamError as error:
        retryable = not isinstance(error, TerminalError)
        logger.error(
            "load failed",
            extra={
                "fields": {
                    **fields,
                    "error": str(error),
                    "error_type": type(error).__name__,
                    "retryable": retryable,
                    "seconds": round(time.monotonic() - started, 3),
                }
            },
        )
        raise
    result = {"status": "ok", "request_id": request_id, **summary.as_dict()}
    logger.info("load finished", extra={"fields": result})
    return result
