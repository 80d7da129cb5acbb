"""Helpers the tests share: throwaway databases and buckets on the real local services."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from clickstream.storage import s3_client
from clickstream.warehouse import create_database, drop_database

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@contextmanager
def temporary_database(prefix: str = "test") -> Iterator[str]:
    """A new empty database; PGDATABASE names it while the block runs."""
    name = unique_name(prefix)
    create_database(name)
    previous = os.environ.get("PGDATABASE")
    os.environ["PGDATABASE"] = name
    try:
        yield name
    finally:
        if previous is None:
            os.environ.pop("PGDATABASE", None)
        else:
            os.environ["PGDATABASE"] = previous
        drop_database(name)


def empty_bucket(bucket: str) -> None:
    client = s3_client()
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        keys: list[ObjectIdentifierTypeDef] = [
            {"Key": item["Key"]} for item in page.get("Contents", [])
        ]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


@contextmanager
def temporary_bucket(prefix: str = "test") -> Iterator[str]:
    """A new empty bucket; RAW_BUCKET names it while the block runs."""
    name = unique_name(prefix).replace("_", "-")
    client = s3_client()
    client.create_bucket(Bucket=name)
    previous = os.environ.get("RAW_BUCKET")
    os.environ["RAW_BUCKET"] = name
    try:
        yield name
    finally:
        if previous is None:
            os.environ.pop("RAW_BUCKET", None)
        else:
            os.environ["RAW_BUCKET"] = previous
        empty_bucket(name)
        client.delete_bucket(Bucket=name)
