"""Helpers the tests share: throwaway databases and buckets on the real local services."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from clickstream.storage import s3_client
from clickstream.warehouse import create_database, drop_database
from devtools.buckets import delete_objects


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@contextmanager
def environment_variable(name: str, value: str) -> Iterator[None]:
    """`name` set to `value` while the block runs, then as it was before (unset included)."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@contextmanager
def temporary_database(prefix: str = "test") -> Iterator[str]:
    """A new empty database; PGDATABASE names it while the block runs."""
    name = unique_name(prefix)
    create_database(name)
    try:
        with environment_variable("PGDATABASE", name):
            yield name
    finally:
        drop_database(name)


@contextmanager
def temporary_bucket(prefix: str = "test") -> Iterator[str]:
    """A new empty bucket; RAW_BUCKET names it while the block runs."""
    name = unique_name(prefix).replace("_", "-")
    client = s3_client()
    client.create_bucket(Bucket=name)
    try:
        with environment_variable("RAW_BUCKET", name):
            yield name
    finally:
        delete_objects(client, name)
        client.delete_bucket(Bucket=name)
