"""Helpers the benchmarks share: running a timed step in a fresh process, and the pieces of
the bare baselines (bench_loader's BARE, bench_warehouse's FLOOR), which those scripts import:
fetching an object and handing bytes to COPY. A baseline stays plain on purpose: it measures
what the loader's own work costs on top of it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

from clickstream.config import PROJECT_ROOT

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def run_script(script: str, environment: dict[str, str]) -> dict[str, float]:
    """Run `script` (Python source) in a fresh interpreter; its last stdout line is the JSON
    of its figures."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        cwd=PROJECT_ROOT,
        check=True,
    )
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def fetch_object(client: S3Client, bucket: str, key: str) -> tuple[str, bytes]:
    return key, client.get_object(Bucket=bucket, Key=key)["Body"].read()


class BytesReader:
    """The file-like object psycopg2's copy_expert reads: all the bytes in its first read."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        data, self.data = self.data, b""
        return data
