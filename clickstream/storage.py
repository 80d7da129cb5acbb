"""The S3 client. boto3 reads AWS_ENDPOINT_URL itself, so the same code talks to AWS or the
local endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_CLIENT_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"},
    max_pool_connections=32,
    connect_timeout=5,
    read_timeout=60,
)


def s3_client() -> S3Client:
    return boto3.client("s3", config=_CLIENT_CONFIG)
