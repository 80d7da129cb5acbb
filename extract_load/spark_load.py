"""Load new raw objects into Spark's staging tables (issue 12, docs/scale.md).

The same raw objects give the same rows and rejects as on PostgreSQL: the lines are read,
judged and their user agents parsed by the functions extract_load/loader.py uses
(extract_load/lines.py, extract_load/user_agents.py), and the objects are chosen as it does
(extract_load/listing.py: the window, then the objects not in the manifest).

1. List the window's objects in the raw bucket; keep those not in staging.load_manifest.
2. Mirror each to SPARK_HOME_DIR/raw/<key> (s3a needs jars Maven would bring, unreachable
   here; on EMR the raw objects are read at their s3:// path instead, see docs/scale.md).
3. Batch by batch: write the batch's keys to a journal file, append its lines to
   staging.raw_events (Parquet, partition load_day), its rejects, the new user agents, then
   its manifest rows (one file: the batch's commit point), and clear the journal.
4. At the end, the run's row in staging.load_runs.

Parquet has no transactions. A run killed mid-batch leaves the batch's keys in the journal:
the next run first removes the lines and rejects of those keys that did not reach the
manifest (rewriting only that day's partition), and adds the load_runs row of a run killed
after some batches committed. Then it loads those objects again: every line lands once.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from clickstream.config import Settings
from clickstream.errors import BucketUnreachableError
from clickstream.storage import s3_client
from devtools.spark import spark_home_dir, spark_session, stop_spark
from extract_load.lines import (
    UNREADABLE_ERRORS,
    is_blank,
    iter_lines,
    line_reason,
    open_body,
    raw_text,
    unreadable_reason,
)
from extract_load.listing import ObjectRef, Window, hour_of_key, list_objects, window_after
from extract_load.loader import LoadSummary, check_bucket
from extract_load.user_agents import UserAgentCollector, storable_user_agents, user_agent_rows

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

SCHEMA_SQL = Path(__file__).with_name("spark_schema.sql")
DOWNLOAD_WORKERS = 16  # many small objects: fetching is latency-bound (as loader.py's prefetch)
# Lines and objects per batch: each batch costs a few Spark jobs (about a second of fixed
# cost each), so batches are much bigger than the PostgreSQL loader's transactions.
BATCH_MAX_LINES = 250_000
BATCH_MAX_OBJECTS = 5_000


# ---------------------------------------------------------------------------- objects


@dataclass
class ObjectLines:
    """One object read and judged: the lines to load, the rejects, the agents seen."""

    ref: ObjectRef
    rows: list[tuple[str, int]] = field(default_factory=list)  # payload, line_number
    rejects: list[tuple[int | None, str, str | None]] = field(default_factory=list)
    user_agents: set[str] = field(default_factory=set)


def mirror_path(key: str, home: Path | None = None) -> Path:
    """Where the local mirror keeps a raw object: SPARK_HOME_DIR/raw/<key>."""
    return (home or spark_home_dir()) / "raw" / key


def mirror_object(client: S3Client, bucket: str, ref: ObjectRef, home: Path) -> Path | None:
    """Copy the object to the mirror unless it is there already (a re-run); None when it
    was deleted since the listing (nothing to load, as on PostgreSQL)."""
    path = mirror_path(ref.key, home)
    if path.is_file() and path.stat().st_size == ref.size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    try:
        client.download_file(bucket, ref.key, str(partial))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            log.warning("object deleted before it was read: %s", ref.key)
            return None
        raise BucketUnreachableError(f"cannot read {ref.key}: {error}") from error
    except BotoCoreError as error:
        raise BucketUnreachableError(f"cannot read {ref.key}: {error}") from error
    os.replace(partial, path)  # never a half-written object under its own name
    return path


def read_object(ref: ObjectRef, path: Path) -> ObjectLines:
    """The object's lines judged as the PostgreSQL loader judges them (line_reason); an
    object that cannot be read is one reject with no line number."""
    result = ObjectLines(ref)
    agents = UserAgentCollector(result.user_agents)
    try:
        with path.open("rb") as file:
            for line in iter_lines(open_body(file, ref.key)):
                agents.add_line(line.data)
                if is_blank(line.data) and not line.oversize:
                    continue
                reason = line_reason(line)
                if reason is None:
                    result.rows.append((line.data.decode("utf-8"), line.number))
                else:
                    result.rejects.append((line.number, reason, raw_text(line.data)))
    except UNREADABLE_ERRORS as error:
        result.rows = []
        result.rejects = [(None, unreadable_reason(error), None)]
    return result


def mirrored_batches(
    client: S3Client, bucket: str, refs: Iterable[ObjectRef], home: Path
) -> Iterator[list[ObjectLines]]:
    """The objects mirrored (16 downloads in flight) and read, in batches."""
    batch: list[ObjectLines] = []
    lines = 0
    with ThreadPoolExecutor(DOWNLOAD_WORKERS, thread_name_prefix="mirror") as pool:
        pending = list(refs)
        for start in range(0, len(pending), BATCH_MAX_OBJECTS):
            chunk = pending[start : start + BATCH_MAX_OBJECTS]
            paths = pool.map(lambda ref: mirror_object(client, bucket, ref, home), chunk)
            for ref, path in zip(chunk, paths, strict=True):
                if path is None:
                    continue
                read = read_object(ref, path)
                batch.append(read)
                lines += len(read.rows) + len(read.rejects)
                if lines >= BATCH_MAX_LINES or len(batch) >= BATCH_MAX_OBJECTS:
                    yield batch
                    batch, lines = [], 0
    if batch:
        yield batch


# ---------------------------------------------------------------------------- journal


class Journal:
    """The keys of the batch being written (SPARK_HOME_DIR/loader/in_flight.json): what a
    killed run may have left half-written."""

    def __init__(self, home: Path) -> None:
        self.path = home / "loader" / "in_flight.json"

    def begin(self, load_day: date, keys: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".part")
        partial.write_text(json.dumps({"load_day": load_day.isoformat(), "keys": keys}))
        os.replace(partial, self.path)

    def pending(self) -> tuple[date, list[str]] | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        return date.fromisoformat(data["load_day"]), list(data["keys"])

    def end(self) -> None:
        self.path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- tables


def ensure_schema(spark: SparkSession) -> None:
    """Create the staging database and tables that are missing (idempotent)."""
    for statement in SCHEMA_SQL.read_text().split("\n;\n"):
        body = "\n".join(
            line for line in statement.splitlines() if not line.lstrip().startswith("--")
        ).strip()
        if body:
            spark.sql(body)


def _raw_schema() -> Any:
    from pyspark.sql.types import (
        DateType,
        IntegerType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    return StructType(
        [
            StructField("payload", StringType()),
            StructField("s3_key", StringType()),
            StructField("line_number", IntegerType()),
            StructField("loaded_at", TimestampType()),
            StructField("load_id", StringType()),
            StructField("load_day", DateType()),
        ]
    )


def _append(spark: SparkSession, table: str, rows: list[tuple[Any, ...]], files: int = 1) -> None:
    """Append rows to a table, in `files` Parquet files (columns in the table's order)."""
    if not rows:
        return
    schema = _raw_schema() if table == "staging.raw_events" else spark.table(table).schema
    frame = spark.createDataFrame(rows, schema, verifySchema=False)
    frame.coalesce(files).write.insertInto(table)


def manifest_keys(spark: SparkSession, prefix: str, window: Window) -> set[str]:
    """The keys of the manifest the window's listing may return."""
    from pyspark.sql import functions as F  # noqa: N812

    keys = spark.table("staging.load_manifest").where(F.col("s3_key").startswith(prefix))
    if window.since is not None:
        keys = keys.where(F.col("s3_key") >= prefix + f"{window.since:%Y/%m/%d/%H}")
    return {row.s3_key for row in keys.select("s3_key").collect()}


def newest_loaded_hour(spark: SparkSession, prefix: str) -> datetime | None:
    from pyspark.sql import functions as F  # noqa: N812

    row = (
        spark.table("staging.load_manifest")
        .where(F.col("s3_key").startswith(prefix))
        .agg(F.max("s3_key").alias("newest"))
        .first()
    )
    return None if row is None or row.newest is None else hour_of_key(row.newest, prefix)


def clean_after_crash(spark: SparkSession, journal: Journal) -> int:
    """Remove the lines and rejects a killed run wrote for objects whose manifest rows it
    never wrote; add the load_runs rows of killed runs. How many objects were cleaned."""
    from pyspark.sql import functions as F  # noqa: N812

    _add_missing_load_runs(spark)
    pending = journal.pending()
    if pending is None:
        return 0
    load_day, keys = pending
    committed = {
        row.s3_key
        for row in spark.table("staging.load_manifest")
        .where(F.col("s3_key").isin(keys))
        .select("s3_key")
        .collect()
    }
    orphans = sorted(set(keys) - committed)
    if orphans:
        log.warning("removing what a killed run left of %d objects", len(orphans))
        day = spark.table("staging.raw_events").where(F.col("load_day") == F.lit(load_day))
        _overwrite(spark, "staging.raw_events", day, orphans, partition_day=load_day)
        rejects = spark.table("staging.rejected_events")
        _overwrite(spark, "staging.rejected_events", rejects, orphans)
    journal.end()
    return len(orphans)


def _overwrite(
    spark: SparkSession,
    table: str,
    rows: DataFrame,
    removed_keys: list[str],
    partition_day: date | None = None,
) -> None:
    """Replace `rows` (one day partition of `table`, or all of it) with those whose s3_key is
    not in `removed_keys`. The kept rows are materialised first (Spark cannot overwrite the
    files it reads); with dynamic partition overwrite only that day's partition is replaced."""
    from pyspark.sql import functions as F  # noqa: N812

    kept = rows.where(~F.col("s3_key").isin(removed_keys)).localCheckpoint(eager=True)
    if partition_day is not None and kept.isEmpty():
        spark.sql(
            f"alter table {table} drop if exists partition (load_day = date'{partition_day}')"
        )
        return
    kept.write.insertInto(table, overwrite=True)


def _add_missing_load_runs(spark: SparkSession) -> None:
    """A run killed after some batches committed has manifest rows but no load_runs row.
    Looked for first: an insert is a Spark job even when it writes nothing."""
    missing = spark.sql(
        """
        select manifest.load_id, min(manifest.loaded_at), max(manifest.loaded_at), count(*),
            sum(manifest.lines_loaded), sum(manifest.lines_rejected)
        from staging.load_manifest as manifest
        left anti join staging.load_runs as runs on manifest.load_id = runs.load_id
        group by manifest.load_id
        """
    ).localCheckpoint(eager=True)
    if not missing.isEmpty():
        missing.coalesce(1).write.insertInto("staging.load_runs")


@dataclass
class _Run:
    load_id: str
    known_agents: set[str]
    first_loaded_at: datetime | None = None
    last_loaded_at: datetime | None = None


def write_batch(spark: SparkSession, run: _Run, batch: list[ObjectLines], journal: Journal) -> None:
    """The batch's lines, rejects, new user agents, then manifest rows (its commit point)."""
    loaded_at = datetime.now(UTC)
    load_day = loaded_at.date()
    run.first_loaded_at = run.first_loaded_at or loaded_at
    run.last_loaded_at = loaded_at
    journal.begin(load_day, [read.ref.key for read in batch])
    raw_rows = [
        (payload, read.ref.key, number, loaded_at, run.load_id, load_day)
        for read in batch
        for payload, number in read.rows
    ]
    _append(spark, "staging.raw_events", raw_rows)
    reject_rows = [
        (read.ref.key, number, reason, raw, loaded_at, run.load_id)
        for read in batch
        for number, reason, raw in read.rejects
    ]
    _append(spark, "staging.rejected_events", reject_rows)
    agents = set().union(*(read.user_agents for read in batch))
    new_agents = [agent for agent in storable_user_agents(agents) if agent not in run.known_agents]
    agent_rows = [(*row, loaded_at) for row in user_agent_rows(new_agents)]
    _append(spark, "staging.user_agents", agent_rows)
    run.known_agents.update(new_agents)
    manifest_rows = [
        (
            read.ref.key,
            read.ref.etag,
            read.ref.size,
            len(read.rows),
            len(read.rejects),
            loaded_at,
            run.load_id,
        )
        for read in batch
    ]
    _append(spark, "staging.load_manifest", manifest_rows)
    journal.end()


# ---------------------------------------------------------------------------- entry point


def load_into_spark(
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    settings: Settings | None = None,
    client: S3Client | None = None,
    spark: SparkSession | None = None,
) -> LoadSummary:
    """Load every raw object of the window that Spark's manifest does not hold yet. With no
    `spark` given, the project's session is started and its JVM ended after (Derby admits
    one process: dbt can run next)."""
    if spark is None:
        session = spark_session()
        try:
            return load_into_spark(since, until, settings=settings, client=client, spark=session)
        finally:
            stop_spark()
    settings = settings or Settings.from_env()
    started = time.monotonic()
    summary = LoadSummary(load_id=str(uuid.uuid4()))
    client = client or s3_client()
    home = spark_home_dir()
    journal = Journal(home)
    check_bucket(client, settings.raw_bucket)
    ensure_schema(spark)
    clean_after_crash(spark, journal)
    newest = newest_loaded_hour(spark, settings.raw_prefix) if since is None else None
    window = window_after(newest, since, until)
    summary.window = window.describe()
    try:
        listed = list(list_objects(client, settings.raw_bucket, settings.raw_prefix, window))
    except (BotoCoreError, ClientError) as error:
        raise BucketUnreachableError(
            f"cannot list s3://{settings.raw_bucket}/{settings.raw_prefix}: {error}"
        ) from error
    loaded = manifest_keys(spark, settings.raw_prefix, window)
    new = [ref for ref in listed if ref.key not in loaded]
    summary.objects_already_loaded = len(listed) - len(new)
    known_agents = {row.user_agent for row in spark.table("staging.user_agents").collect()}
    run = _Run(summary.load_id, known_agents)
    for batch in mirrored_batches(client, settings.raw_bucket, new, home):
        write_batch(spark, run, batch, journal)
        for read in batch:
            summary.objects += 1
            summary.lines_loaded += len(read.rows)
            summary.lines_rejected += len(read.rejects)
            summary.objects_unreadable += any(number is None for number, _, _ in read.rejects)
    # as on PostgreSQL: the run's first and last batch; a run that found nothing, its end
    finished = datetime.now(UTC)
    _append(
        spark,
        "staging.load_runs",
        [
            (
                summary.load_id,
                run.first_loaded_at or finished,
                run.last_loaded_at or finished,
                summary.objects,
                summary.lines_loaded,
                summary.lines_rejected,
            )
        ],
    )
    summary.seconds = time.monotonic() - started
    return summary
