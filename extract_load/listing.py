"""Which raw objects to load: list the hour partitions of a window, keep the objects that are
not in staging.load_manifest yet.

The window (docs/extract_load.md):
- `since`/`until` given: the hour partitions from `since` to `until` (both included; `until`
  defaults to now + 1 h).
- otherwise, with objects in the manifest: from the newest loaded hour minus SAFETY_MARGIN
  (2 days) to now + 1 h. The ingest Lambda writes under the hour it receives a request, so new
  objects appear in recent hours; the margin covers a clock-skewed writer or a late upload.
- with an empty manifest: the whole prefix, listed once.
The listing starts after the window's first hour prefix and stops past its last hour (S3
lists keys in order), so an hourly run reads the keys of about two days, whatever the size of
the history."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from psycopg2.extensions import connection

from clickstream.raw_layout import hour_prefix, is_raw_object

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SAFETY_MARGIN = timedelta(days=2)
FUTURE_MARGIN = timedelta(hours=1)
_MANIFEST_LOOKUP_BATCH = 1000
_HOUR_IN_KEY = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})/")


@dataclass(frozen=True)
class ObjectRef:
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class Window:
    """Hour partitions to list; `since is None` means the whole prefix."""

    since: datetime | None
    until: datetime

    def describe(self) -> str:
        if self.since is None:
            return "the whole prefix"
        return f"hours {self.since:%Y-%m-%dT%H} to {self.until:%Y-%m-%dT%H} UTC"


def newest_loaded_hour(conn: connection, prefix: str) -> datetime | None:
    """The hour partition of the greatest key loaded under `prefix` (keys sort by hour)."""
    with conn.cursor() as cursor:
        cursor.execute(
            "select s3_key from staging.load_manifest"
            " where starts_with(s3_key, %s) order by s3_key desc limit 1",
            (prefix,),
        )
        row = cursor.fetchone()
    return None if row is None else hour_of_key(row[0], prefix)


def hour_of_key(key: str, prefix: str) -> datetime | None:
    """The hour partition of a raw key under `prefix` (None when it is not under one)."""
    match = _HOUR_IN_KEY.match(key, len(prefix))
    if match is None:
        return None
    year, month, day, hour = (int(part) for part in match.groups())
    return datetime(year, month, day, hour, tzinfo=UTC)


def choose_window(
    conn: connection,
    prefix: str,
    since: datetime | None,
    until: datetime | None,
    now: datetime | None = None,
) -> Window:
    newest = newest_loaded_hour(conn, prefix) if since is None else None
    return window_after(newest, since, until, now)


def window_after(
    newest_loaded: datetime | None,
    since: datetime | None,
    until: datetime | None,
    now: datetime | None = None,
) -> Window:
    """The window to list given the newest hour already loaded (either warehouse's)."""
    now = now or datetime.now(UTC)
    until = until or now + FUTURE_MARGIN
    if since is None and newest_loaded is not None:
        since = newest_loaded - SAFETY_MARGIN
    return Window(since, until)


def list_objects(client: S3Client, bucket: str, prefix: str, window: Window) -> Iterator[ObjectRef]:
    """Raw objects of the window, in key order. Keys sort by hour, so one listing that
    starts after the first hour's prefix and stops past the last hour reads only the window's
    keys (S3 lists in key order), however many empty hours or old objects there are."""
    arguments: dict[str, str] = {"Bucket": bucket, "Prefix": prefix}
    stop_before = None
    if window.since is not None:
        arguments["StartAfter"] = hour_prefix(prefix, window.since)
        stop_before = hour_prefix(prefix, window.until + timedelta(hours=1))
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(**arguments):  # type: ignore[arg-type]
        for item in page.get("Contents", []):
            key = item["Key"]
            if stop_before is not None and key >= stop_before:
                return
            if is_raw_object(key):
                yield ObjectRef(key, item["Size"], item["ETag"].strip('"'))


def not_in_manifest(conn: connection, objects: Iterable[ObjectRef]) -> Iterator[ObjectRef]:
    """Drop the objects the manifest already has, looking keys up in batches (index scans).
    `conn` is in autocommit: this generator runs between the loader's transactions."""
    batch: list[ObjectRef] = []
    for ref in objects:
        batch.append(ref)
        if len(batch) >= _MANIFEST_LOOKUP_BATCH:
            yield from _new_in(conn, batch)
            batch = []
    if batch:
        yield from _new_in(conn, batch)


def _new_in(conn: connection, batch: list[ObjectRef]) -> list[ObjectRef]:
    with conn.cursor() as cursor:
        cursor.execute(
            "select s3_key from staging.load_manifest where s3_key = any(%s)",
            ([ref.key for ref in batch],),
        )
        loaded = {row[0] for row in cursor.fetchall()}
    return [ref for ref in batch if ref.key not in loaded]
