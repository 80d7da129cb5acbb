"""`python -m clickstream.privacy erase --user-id X | --client-id Y`: the right to be
forgotten (docs/privacy.md).

A person's lines are:
- with `--user-id X`: every line whose `user_id` is X, and every line of a client id seen with
  X (in S3 or in the warehouse) that carries no other user id: the guest events of the
  person's browsers before they logged in, in the same sessions. A line of such a client id
  with *another* user id (someone else logged in on a shared computer) is not theirs and stays;
- with `--client-id Y`: every line whose `client_id` is Y, whatever its user id;
- a line that is not a JSON object (a reject) is theirs when it contains one of those ids.

They are removed from every version of every raw S3 object (each line replaced by an empty
line, so the other lines keep their line numbers; the versions that held them deleted),
staging.raw_events, staging.rejected_events and every mart (clickstream.raw_removal makes the
next `dbt build` recompute the touched sessions, days, hours and products; `make erase` runs
it). staging.load_manifest keeps describing each rewritten object, so the loader does not
load it again. staging.erasure_requests records what was removed, in counts only.
Re-running is safe: S3 first, then the warehouse in one transaction, and a run that finds
nothing removes nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg2
from botocore.exceptions import BotoCoreError, ClientError
from psycopg2 import sql
from psycopg2.extras import execute_values

from clickstream.config import Settings
from clickstream.errors import BucketUnreachableError, ClickstreamError, TerminalError
from clickstream.raw_layout import is_raw_object
from clickstream.raw_removal import remove_raw_lines
from clickstream.storage import s3_client
from clickstream.warehouse import connect

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 128  # the contract's limit on user_id and client_id

AUDIT_TABLE_SQL = """
create schema if not exists staging;
-- One row per erasure run: when, by which kind of id, and how much was removed where.
-- No personal data: neither the id nor a hash of it.
create table if not exists staging.erasure_requests (
    erasure_id uuid primary key,
    requested_at timestamptz not null,
    finished_at timestamptz not null default now(),
    identified_by text not null check (identified_by in ('user_id', 'client_id')),
    client_ids_included integer not null,
    removed jsonb not null
)
"""


@dataclass(frozen=True)
class Person:
    """Who is to be forgotten: the ids their lines carry (module doc)."""

    user_id: str | None
    client_ids: frozenset[str]

    @property
    def identified_by(self) -> str:
        return "user_id" if self.user_id is not None else "client_id"

    def all_ids(self) -> list[str]:
        ids = sorted(self.client_ids)
        return [self.user_id, *ids] if self.user_id is not None else ids

    def owns(self, payload: Any) -> bool:
        """Whether a parsed line is theirs."""
        if not isinstance(payload, dict):
            return False
        user_id, client_id = payload.get("user_id"), payload.get("client_id")
        if self.user_id is None:  # --client-id: the browser's lines, whoever logged in
            return isinstance(client_id, str) and client_id in self.client_ids
        if user_id == self.user_id:
            return True
        return isinstance(client_id, str) and client_id in self.client_ids and user_id is None

    def owns_line(self, line: bytes) -> bool:
        """Whether a raw line is theirs; a line that is not a JSON object is theirs when it
        contains one of their ids."""
        if not line.strip():
            return False
        try:
            payload = json.loads(line)
        except (ValueError, RecursionError):
            payload = None
        if isinstance(payload, dict):
            return self.owns(payload)
        text = line.decode("utf-8", errors="replace")
        return any(person_id in text for person_id in self.all_ids())


@dataclass
class ErasureSummary:
    erasure_id: str
    identified_by: str
    client_ids_included: int = 0
    requested_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    removed: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, count: int) -> None:
        self.removed[name] = self.removed.get(name, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "identified_by": self.identified_by,
            "client_ids_included": self.client_ids_included,
            "removed": dict(sorted(self.removed.items())),
        }

    def one_line(self) -> str:
        counts = ", ".join(f"{name} {count}" for name, count in sorted(self.removed.items()))
        return f"erased ({self.identified_by}, erasure {self.erasure_id}): {counts}"


# ---------------------------------------------------------------------------- S3


@dataclass(frozen=True)
class ObjectVersion:
    key: str
    version_id: str
    is_latest: bool


def _versions(client: S3Client, bucket: str, prefix: str) -> Iterator[ObjectVersion]:
    """Every version of every raw object (an unversioned bucket lists its objects with
    version id "null"); delete markers hold no data."""
    paginator = client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Versions", []):
            if is_raw_object(item["Key"]):
                yield ObjectVersion(item["Key"], item["VersionId"], item["IsLatest"])


def _read(client: S3Client, bucket: str, version: ObjectVersion) -> tuple[bytes, str] | None:
    """The version's decompressed body and content type; None when it cannot be read."""
    response = client.get_object(Bucket=bucket, Key=version.key, VersionId=version.version_id)
    body = response["Body"].read()
    if version.key.endswith(".gz"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as error:
            log.warning("cannot read %s (version %s): %s", version.key, version.version_id, error)
            return None
    return body, response.get("ContentType", "application/x-ndjson")


def _client_ids_in_bucket(
    client: S3Client, bucket: str, prefix: str, user_id: str
) -> Iterator[str]:
    for version in _versions(client, bucket, prefix):
        read = _read(client, bucket, version)
        for line in read[0].split(b"\n") if read else []:
            try:
                payload = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(payload, dict) and payload.get("user_id") == user_id:
                client_id = payload.get("client_id")
                if isinstance(client_id, str):
                    yield client_id


def erase_from_bucket(
    client: S3Client, settings: Settings, person: Person, summary: ErasureSummary
) -> None:
    """Rewrite the current version of each object without the person's lines (each replaced
    by an empty line), then delete every other version that holds any of them."""
    bucket = settings.raw_bucket
    for version in _versions(client, bucket, settings.raw_prefix):
        read = _read(client, bucket, version)
        if read is None:
            summary.add("s3_versions_unreadable", 1)
            continue
        body, content_type = read
        lines = body.split(b"\n")
        kept = [b"" if person.owns_line(line) else line for line in lines]
        erased = sum(1 for old, new in zip(lines, kept, strict=True) if old != new)
        if not erased:
            continue
        summary.add("s3_lines", erased)
        if version.is_latest:
            new_body = b"\n".join(kept)
            if version.key.endswith(".gz"):
                new_body = gzip.compress(new_body)
            put = client.put_object(
                Bucket=bucket, Key=version.key, Body=new_body, ContentType=content_type
            )
            summary.add("s3_objects_rewritten", 1)
            if put.get("VersionId") in (None, "null", version.version_id):
                continue  # unversioned (or suspended): the put replaced the old content
        client.delete_object(Bucket=bucket, Key=version.key, VersionId=version.version_id)
        summary.add("s3_versions_deleted", 1)


# ---------------------------------------------------------------------------- warehouse


def _person_condition(person: Person) -> tuple[sql.Composable, dict[str, Any]]:
    """Person.owns, in SQL over staging.raw_events' payload."""
    params = {"user_id": person.user_id, "client_ids": sorted(person.client_ids)}
    of_client = sql.SQL(
        "payload->'client_id' in (select to_jsonb(id) from unnest(%(client_ids)s::text[]) as id)"
    )
    if person.user_id is None:
        return sql.SQL("({})").format(of_client), params
    condition = sql.SQL(
        "(payload->'user_id' = to_jsonb(%(user_id)s::text) or ({} and"
        " jsonb_typeof(coalesce(payload->'user_id', 'null')) = 'null'))"
    ).format(of_client)
    return condition, params


def _events_condition(person: Person) -> sql.Composable:
    """Person.owns, in SQL over clickstream_events' columns (for events whose raw lines
    retention dropped already)."""
    if person.user_id is None:
        return sql.SQL("(kept.client_id = any(%(client_ids)s::text[]))")
    return sql.SQL(
        "(kept.user_id = %(user_id)s"
        " or (kept.client_id = any(%(client_ids)s::text[]) and kept.user_id is null))"
    )


def _client_ids_in_warehouse(cursor: Any, user_id: str) -> set[str]:
    cursor.execute("select to_regclass('staging.raw_events') is not null")
    if not cursor.fetchone()[0]:
        return set()
    cursor.execute(
        "select distinct payload->>'client_id' from staging.raw_events"
        " where payload->'user_id' = to_jsonb(%s::text)"
        " and jsonb_typeof(payload->'client_id') = 'string'",
        (user_id,),
    )
    found = {row[0] for row in cursor.fetchall()}
    cursor.execute("select to_regclass('public.clickstream_events') is not null")
    if cursor.fetchone()[0]:  # events whose raw lines retention dropped already
        cursor.execute(
            "select distinct client_id from public.clickstream_events where user_id = %s",
            (user_id,),
        )
        found |= {row[0] for row in cursor.fetchall()}
    return found


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_ADJUST_MANIFEST_SQL = """
with removed_per_key as (
    select s3_key, sum(lines) as lines, sum(rejects) as rejects
    from (values %s) as removed (s3_key, lines, rejects)
    group by s3_key
),
changed as (
    update staging.load_manifest as manifest set
        lines_loaded = manifest.lines_loaded - removed_per_key.lines,
        lines_rejected = manifest.lines_rejected - removed_per_key.rejects
    from removed_per_key where manifest.s3_key = removed_per_key.s3_key
    returning manifest.load_id, removed_per_key.lines, removed_per_key.rejects
)
update staging.load_runs as runs set
    lines_loaded = runs.lines_loaded - per_run.lines,
    lines_rejected = runs.lines_rejected - per_run.rejects
from (
    select load_id, sum(lines) as lines, sum(rejects) as rejects from changed group by load_id
) as per_run
where runs.load_id = per_run.load_id
"""


def erase_from_warehouse(
    conn: Any, client: S3Client, settings: Settings, person: Person, summary: ErasureSummary
) -> None:
    """One transaction: the raw lines and every mart (clickstream.raw_removal), the rejects
    that mention an id, the manifest's counts and object descriptions, the audit row."""
    with conn.cursor() as cursor:
        cursor.execute("select to_regclass('staging.raw_events') is not null")
        loaded = bool(cursor.fetchone()[0])
        removed_per_key: list[tuple[str, int, int]] = []
        if loaded:
            condition, params = _person_condition(person)
            cursor.execute(
                sql.SQL(
                    "select s3_key, count(*) from staging.raw_events where {} group by s3_key"
                ).format(condition),
                params,
            )
            removed_per_key += [(key, count, 0) for key, count in cursor.fetchall()]
            counts = remove_raw_lines(
                cursor, condition, params, events_condition=_events_condition(person)
            )
            for name, count in counts.as_dict().items():
                summary.add(name, count)
            patterns = [f"%{_escape_like(person_id)}%" for person_id in person.all_ids()]
            cursor.execute(
                "delete from staging.rejected_events where raw_line like any(%s) returning s3_key",
                (patterns,),
            )
            rejected_keys = [row[0] for row in cursor.fetchall()]
            summary.add("rejected_events", len(rejected_keys))
            removed_per_key += [(key, 0, 1) for key in rejected_keys]
            if removed_per_key:
                execute_values(cursor, _ADJUST_MANIFEST_SQL, removed_per_key)
                _describe_objects_again(
                    cursor, client, settings, {k for k, _, _ in removed_per_key}
                )
        cursor.execute(AUDIT_TABLE_SQL)
        cursor.execute(
            "insert into staging.erasure_requests"
            " (erasure_id, requested_at, identified_by, client_ids_included, removed)"
            " values (%s, %s, %s, %s, %s)",
            (
                summary.erasure_id,
                summary.requested_at,
                summary.identified_by,
                summary.client_ids_included,
                json.dumps(summary.as_dict()["removed"]),
            ),
        )
    conn.commit()


def _describe_objects_again(
    cursor: Any, client: S3Client, settings: Settings, keys: set[str]
) -> None:
    """The manifest row of a rewritten object describes the object as it is now (its etag
    and size); its key is unchanged, so the loader still knows it as loaded."""
    for key in sorted(keys):
        try:
            head = client.head_object(Bucket=settings.raw_bucket, Key=key)
        except ClientError:
            continue  # the object is gone from S3: the row keeps what was loaded
        cursor.execute(
            "update staging.load_manifest set etag = %s, size_bytes = %s where s3_key = %s",
            (head["ETag"].strip('"'), head["ContentLength"], key),
        )


# ---------------------------------------------------------------------------- entry point


def erase(
    user_id: str | None = None,
    client_id: str | None = None,
    *,
    settings: Settings | None = None,
    client: S3Client | None = None,
) -> ErasureSummary:
    """Forget one person (module doc). Afterwards run `dbt build` (`make erase` does)."""
    if (user_id is None) == (client_id is None):
        raise TerminalError("give exactly one of --user-id and --client-id")
    for value in (user_id, client_id):
        if value is not None and not (0 < len(value) <= MAX_ID_LENGTH and value.strip()):
            raise TerminalError(
                f"an id is a non-blank string of at most {MAX_ID_LENGTH} characters"
            )
    requested_at = datetime.now(UTC)
    settings = settings or Settings.from_env()
    client = client or s3_client()
    conn = connect()
    try:
        conn.set_client_encoding("UTF8")
        client_ids = {client_id} if client_id is not None else set()
        if user_id is not None:
            with conn.cursor() as cursor:
                client_ids |= _client_ids_in_warehouse(cursor, user_id)
            client_ids |= set(
                _client_ids_in_bucket(client, settings.raw_bucket, settings.raw_prefix, user_id)
            )
        person = Person(user_id, frozenset(client_ids))
        summary = ErasureSummary(
            str(uuid.uuid4()), person.identified_by, len(client_ids), requested_at
        )
        erase_from_bucket(client, settings, person, summary)
        erase_from_warehouse(conn, client, settings, person, summary)
    except (BotoCoreError, ClientError) as error:
        raise BucketUnreachableError(f"S3 refused the erasure: {error}") from error
    except psycopg2.Error as error:
        raise TerminalError(f"the warehouse refused the erasure: {error}".strip()) from error
    finally:
        conn.close()
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clickstream.privacy",
        description="Privacy requests (docs/privacy.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    erase_command = commands.add_parser(
        "erase", help="remove a person's events everywhere; then run dbt build (make erase)"
    )
    who = erase_command.add_mutually_exclusive_group(required=True)
    who.add_argument("--user-id", help="the person's user_id (and their browsers' guest events)")
    who.add_argument("--client-id", help="one browser's client_id")
    erase_command.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        summary = erase(args.user_id, args.client_id)
    except ClickstreamError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary.as_dict()) if args.json else summary.one_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
