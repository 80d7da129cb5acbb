"""Load new raw objects into staging.raw_events, exactly once (docs/extract_load.md).

For each batch of objects, in ONE transaction:
1. claim them: insert their manifest rows `on conflict (s3_key) do nothing returning s3_key`.
   A key another loader has claimed but not committed makes this insert wait for that
   transaction, then conflict: two loaders never load the same object.
2. COPY their lines into staging.raw_events (fast path: the JSON text passes through as is).
3. If PostgreSQL refuses the COPY (inside a savepoint), redo object by object; an object
   PostgreSQL still refuses is classified line by line (Python checks, then per-line
   savepoints by bisection for what only PostgreSQL refuses): bad lines go to
   staging.rejected_events with their reason, the others load.
4. Write the rejects, set the manifest counts, commit.
Killed at any moment, the transaction rolls back whole: a re-run loads every line once.

With `replay`, objects already in the manifest are loaded again: in the same transaction,
before step 1, their old raw lines, rejects and manifest rows are removed and the marts made
ready for the next dbt run to recompute what they touched (clickstream.raw_removal).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from io import BytesIO
from tempfile import SpooledTemporaryFile
from typing import IO, TYPE_CHECKING, Any

import psycopg2
from botocore.exceptions import BotoCoreError, ClientError
from psycopg2 import sql
from psycopg2.extensions import connection
from psycopg2.extras import execute_values

from clickstream.config import Settings
from clickstream.errors import (
    BucketUnreachableError,
    TerminalError,
    TransientError,
    WarehouseUnreachableError,
)
from clickstream.raw_removal import remove_raw_lines
from clickstream.storage import s3_client
from clickstream.warehouse import connect
from extract_load.lines import (
    FAST_COPY_OPTIONS,
    SAFE_COPY_OPTIONS,
    UNREADABLE_ERRORS,
    Line,
    fast_row,
    fast_row_prefix,
    is_blank,
    iter_lines,
    line_reason,
    open_body,
    quick_reason,
    raw_text,
    reject_row,
    safe_row,
    unreadable_reason,
)
from extract_load.listing import ObjectRef, Window, choose_window, list_objects, not_in_manifest
from extract_load.partitions import DayPartitions
from extract_load.schema import ADD_TO_LOAD_RUN_SQL, ensure_schema
from extract_load.user_agents import UserAgentCollector, parse_user_agents

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

# Many small objects (one per ingest request) make fetching latency-bound: 16 GETs in flight
# loaded the demo's 7,229 objects in 30 s instead of 39 s with 4 (memory stays bounded by
# PREFETCH_MAX_BYTES below).
PREFETCH_WORKERS = 16
PREFETCH_MAX_OBJECT_BYTES = 8 << 20  # bigger objects are streamed when their turn comes
PREFETCH_MAX_BYTES = 32 << 20  # objects fetched ahead at most (bounded memory)
PREFETCH_MAX_OBJECTS = 64
BATCH_MAX_OBJECTS = 200  # small objects share a transaction (the ingest writes tiny ones)
BATCH_MAX_BYTES = 8 << 20
CAREFUL_CHUNK_LINES = 2000  # lines COPYed at once on the careful path
SPOOL_BYTES = 4 << 20  # reject rows beyond this go to a temporary file

_RAW_COLUMNS = "staging.raw_events (s3_key, load_id, line_number, payload)"
_REJECT_COLUMNS = "staging.rejected_events (s3_key, line_number, reason, raw_line, load_id)"


@dataclass
class LoadSummary:
    objects: int = 0
    lines_loaded: int = 0
    lines_rejected: int = 0
    objects_unreadable: int = 0
    objects_already_loaded: int = 0  # listed, but in the manifest already: skipped
    objects_replaced: int = 0  # replay: loaded again, their old lines replaced
    seconds: float = 0.0
    window: str = ""
    load_id: str = ""

    @property
    def events_per_second(self) -> float:
        return self.lines_loaded / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "events_per_second": round(self.events_per_second, 1)}

    def one_line(self) -> str:
        unreadable = f" ({self.objects_unreadable} unreadable)" if self.objects_unreadable else ""
        skipped = (
            f"; {self.objects_already_loaded} objects already loaded"
            if self.objects_already_loaded
            else ""
        )
        replaced = (
            f"; {self.objects_replaced} replayed (their old lines replaced)"
            if self.objects_replaced
            else ""
        )
        return (
            f"loaded {self.objects} objects{unreadable}: {self.lines_loaded} lines loaded, "
            f"{self.lines_rejected} rejected in {self.seconds:.1f} s "
            f"({self.events_per_second:,.0f} events/s){skipped}{replaced}"
        )


# ---------------------------------------------------------------------------- objects


@dataclass
class FetchedObject:
    """An object to load: its bytes when prefetched, else it is streamed from S3."""

    ref: ObjectRef
    body: bytes | None
    client: S3Client
    bucket: str

    def open(self) -> IO[bytes]:
        """A fresh decompressed stream of the object (it may be read more than once)."""
        if self.body is not None:
            return open_body(BytesIO(self.body), self.ref.key)
        return open_body(_get_stream(self.client, self.bucket, self.ref), self.ref.key)


class ObjectGoneError(TransientError):
    """The object was deleted between the listing and the fetch: nothing to load."""


def _s3_error(ref: ObjectRef, error: Exception) -> Exception:
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in (
        "NoSuchKey",
        "404",
    ):
        return ObjectGoneError(f"{ref.key} was deleted while the loader ran")
    return BucketUnreachableError(f"cannot read {ref.key}: {error}")


def _get_stream(client: S3Client, bucket: str, ref: ObjectRef) -> IO[bytes]:
    try:
        return client.get_object(Bucket=bucket, Key=ref.key)["Body"]  # type: ignore[return-value]
    except (BotoCoreError, ClientError) as error:
        raise _s3_error(ref, error) from error


def _fetch(client: S3Client, bucket: str, ref: ObjectRef) -> bytes | None:
    if ref.size > PREFETCH_MAX_OBJECT_BYTES:
        return None
    try:
        return client.get_object(Bucket=bucket, Key=ref.key)["Body"].read()
    except (BotoCoreError, ClientError) as error:
        raise _s3_error(ref, error) from error


def prefetch(client: S3Client, bucket: str, refs: Iterable[ObjectRef]) -> Iterator[FetchedObject]:
    """Fetch the next objects on a small thread pool while the caller loads the current one;
    in order, within PREFETCH_MAX_BYTES and PREFETCH_MAX_OBJECTS."""
    pending: deque[tuple[ObjectRef, Future[bytes | None]]] = deque()
    pending_bytes = 0
    source = iter(refs)
    exhausted = False
    with ThreadPoolExecutor(PREFETCH_WORKERS, thread_name_prefix="fetch") as pool:
        try:
            while True:
                while not exhausted and (
                    not pending
                    or (len(pending) < PREFETCH_MAX_OBJECTS and pending_bytes < PREFETCH_MAX_BYTES)
                ):
                    ref = next(source, None)
                    if ref is None:
                        exhausted = True
                        break
                    pending.append((ref, pool.submit(_fetch, client, bucket, ref)))
                    pending_bytes += min(ref.size, PREFETCH_MAX_OBJECT_BYTES)
                if not pending:
                    return
                ref, future = pending.popleft()
                pending_bytes -= min(ref.size, PREFETCH_MAX_OBJECT_BYTES)
                try:
                    body = future.result()
                except ObjectGoneError:
                    log.warning("object deleted before it was read: %s", ref.key)
                    continue
                yield FetchedObject(ref, body, client, bucket)
        finally:
            for _, future in pending:
                future.cancel()


def batches(objects: Iterable[FetchedObject]) -> Iterator[list[FetchedObject]]:
    """Consecutive prefetched objects share a transaction; a streamed one goes alone."""
    batch: list[FetchedObject] = []
    batch_bytes = 0
    for fetched in objects:
        if fetched.body is None:
            if batch:
                yield batch
            yield [fetched]
            batch, batch_bytes = [], 0
            continue
        batch.append(fetched)
        batch_bytes += len(fetched.body)
        if len(batch) >= BATCH_MAX_OBJECTS or batch_bytes >= BATCH_MAX_BYTES:
            yield batch
            batch, batch_bytes = [], 0
    if batch:
        yield batch


# ---------------------------------------------------------------------------- loading


class LoadPath(Enum):
    """How an object was loaded (docs/extract_load.md, "Speed and memory")."""

    FAST = "fast"  # its lines went to PostgreSQL as they are, in one COPY
    CAREFUL = "careful"  # PostgreSQL refused the fast COPY: its lines were judged one by one
    UNREADABLE = "unreadable"  # it could not be read: one reject row, no line loaded


@dataclass
class ObjectResult:
    """What became of one object: how it was loaded, why it left the fast path (PostgreSQL's
    refusal, or why it could not be read), and its counts."""

    ref: ObjectRef
    path: LoadPath = LoadPath.FAST
    reason: str | None = None
    lines_loaded: int = 0
    lines_rejected: int = 0
    replaced: bool = False  # replay: the object had been loaded before; its old lines went
    # The user agents of the lines read (staging.user_agents): a line read by a try that was
    # rolled back may add one whose line is not loaded, which costs a parsed row, nothing more.
    user_agents: set[str] = field(default_factory=set, repr=False, compare=False)
    # The error that stopped reading the object, noted while COPY is reading it (psycopg2
    # reports an error raised inside COPY's read() as its own), so that it can be judged.
    read_error: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def unreadable(self) -> bool:
        return self.path is LoadPath.UNREADABLE

    def start_over(self, path: LoadPath, reason: str) -> None:
        """Forget the counts of a try that was rolled back; say how and why it goes on."""
        self.path, self.reason = path, reason
        self.lines_loaded = self.lines_rejected = 0
        self.read_error = None


class _RejectSpool:
    """A batch's reject rows, in memory then in a temporary file past SPOOL_BYTES. A try that
    is rolled back drops the rows it wrote (`mark`, then `drop_since`)."""

    def __init__(self, load_id: str) -> None:
        self.load_id = load_id
        self._rows: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115

    def add(
        self, result: ObjectResult, line_number: int | None, reason: str, raw: str | None
    ) -> None:
        self._rows.write(reject_row(result.ref.key, line_number, reason, raw, self.load_id))
        result.lines_rejected += 1

    def mark(self) -> int:
        return self._rows.tell()

    def drop_since(self, mark: int) -> None:
        self._rows.seek(mark)
        self._rows.truncate(mark)

    def copy_into_table(self, cursor: Any) -> None:
        if self._rows.tell():
            self._rows.seek(0)
            cursor.copy_expert(
                f"copy {_REJECT_COLUMNS} from stdin with ({SAFE_COPY_OPTIONS})", self._rows
            )

    def close(self) -> None:
        self._rows.close()


class _ReadAbortedError(Exception):
    """Raised inside COPY's read() to abort it when the object cannot be read."""


class _ChunkReader:
    """A file-like object psycopg2's copy_expert reads COPY data from, fed by a generator."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, size: int = -1) -> bytes:
        return next(self._chunks, b"")

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def _read_lines(fetched: FetchedObject, result: ObjectResult) -> Iterator[Line]:
    """The object's lines; a broken object is noted on its result and aborts the COPY."""
    agents = UserAgentCollector(result.user_agents)
    try:
        with fetched.open() as stream:
            for line in iter_lines(stream):
                agents.add_line(line.data)
                yield line
    except UNREADABLE_ERRORS as error:
        result.read_error = error
        raise _ReadAbortedError(str(error)) from error
    except (BotoCoreError, ClientError, OSError) as error:
        result.read_error = BucketUnreachableError(f"cannot read {fetched.ref.key}: {error}")
        raise _ReadAbortedError(str(error)) from error


def _fast_rows(
    objects: list[FetchedObject], results: list[ObjectResult], rejects: _RejectSpool
) -> Iterator[bytes]:
    """COPY data for the objects, about 1 MB at a time; lines Python can judge cheaply are
    rejected here, blank lines skipped."""
    for fetched, result in zip(objects, results, strict=True):
        prefix = fast_row_prefix(fetched.ref.key, rejects.load_id)
        rows: list[bytes] = []
        size = 0
        for line in _read_lines(fetched, result):
            if is_blank(line.data) and not line.oversize:
                continue
            reason = quick_reason(line)
            if reason is not None:
                rejects.add(result, line.number, reason, raw_text(line.data))
                continue
            row = fast_row(prefix, line)
            rows.append(row)
            size += len(row)
            result.lines_loaded += 1
            if size >= 1 << 20:
                yield b"".join(rows)
                rows, size = [], 0
        if rows:
            yield b"".join(rows)


def _copy(conn: connection, table: str, options: str, chunks: Iterator[bytes]) -> None:
    with conn.cursor() as cursor:
        cursor.copy_expert(f"copy {table} from stdin with ({options})", _ChunkReader(chunks))


@contextmanager
def _savepoint(conn: connection, name: str) -> Iterator[None]:
    """Released when the block succeeds; rolled back to (and the error re-raised) when not."""
    with conn.cursor() as cursor:
        cursor.execute(f"savepoint {name}")
    try:
        yield
    except BaseException:
        if not conn.closed:
            with conn.cursor() as cursor:
                cursor.execute(f"rollback to savepoint {name}")
                cursor.execute(f"release savepoint {name}")
        raise
    with conn.cursor() as cursor:
        cursor.execute(f"release savepoint {name}")


def _try_fast(
    conn: connection,
    objects: list[FetchedObject],
    results: list[ObjectResult],
    rejects: _RejectSpool,
) -> str | None:
    """COPY the objects' lines in one go, inside a savepoint. None when it worked; else why
    not (the COPY is rolled back, and so are the reject rows it wrote): PostgreSQL's refusal,
    or an object that cannot be read (its result's `read_error`)."""
    mark = rejects.mark()
    try:
        with _savepoint(conn, "fast_copy"):
            _copy(conn, _RAW_COLUMNS, FAST_COPY_OPTIONS, _fast_rows(objects, results, rejects))
    except (psycopg2.Error, _ReadAbortedError) as error:
        _raise_if_connection_lost(conn, error)
        rejects.drop_since(mark)
        for result in results:
            if isinstance(result.read_error, BucketUnreachableError):
                raise result.read_error from error
        log.debug("fast COPY refused: %s", error)
        if isinstance(error, psycopg2.Error):
            return f"PostgreSQL refused the fast COPY: {_first_line(error)}"
        return str(error)
    return None


def _load_objects(
    conn: connection, objects: list[FetchedObject], rejects: _RejectSpool
) -> list[ObjectResult]:
    """All the objects in one fast COPY; when that is refused, each object on its own."""
    results = [ObjectResult(fetched.ref) for fetched in objects]
    if _try_fast(conn, objects, results, rejects) is None:
        return results
    return [_load_one(conn, fetched, rejects) for fetched in objects]


def _load_one(conn: connection, fetched: FetchedObject, rejects: _RejectSpool) -> ObjectResult:
    """One object on its own: fast, else careful, else recorded as unreadable."""
    result = ObjectResult(fetched.ref)
    refusal = _try_fast(conn, [fetched], [result], rejects)
    if refusal is None:
        return result
    if result.read_error is None:  # PostgreSQL refused something: judge line by line
        result.start_over(LoadPath.CAREFUL, refusal)
        mark = rejects.mark()
        try:
            with _savepoint(conn, "careful"):
                _load_carefully(conn, fetched, result, rejects)
        except _ReadAbortedError:
            rejects.drop_since(mark)
            if isinstance(result.read_error, BucketUnreachableError):
                raise result.read_error from None
        else:
            return result
    reason = unreadable_reason(result.read_error)
    result.start_over(LoadPath.UNREADABLE, reason)
    rejects.add(result, None, reason, None)
    return result


def _load_carefully(
    conn: connection, fetched: FetchedObject, result: ObjectResult, rejects: _RejectSpool
) -> None:
    """Judge each line in Python; COPY the rest in chunks, bisecting what PostgreSQL refuses."""
    chunk: list[Line] = []
    for line in _read_lines(fetched, result):
        if is_blank(line.data) and not line.oversize:
            continue
        reason = line_reason(line)
        if reason is not None:
            rejects.add(result, line.number, reason, raw_text(line.data))
            continue
        chunk.append(line)
        if len(chunk) >= CAREFUL_CHUNK_LINES:
            _copy_bisecting(conn, chunk, result, rejects)
            chunk = []
    if chunk:
        _copy_bisecting(conn, chunk, result, rejects)


def _copy_bisecting(
    conn: connection, lines: list[Line], result: ObjectResult, rejects: _RejectSpool
) -> None:
    key, load_id = result.ref.key, rejects.load_id
    try:
        with _savepoint(conn, "lines"):
            _copy(
                conn,
                _RAW_COLUMNS,
                SAFE_COPY_OPTIONS,
                (safe_row(key, load_id, line) for line in lines),
            )
    except psycopg2.Error as error:
        _raise_if_connection_lost(conn, error)
        if len(lines) == 1:
            reason = f"refused by PostgreSQL: {_first_line(error)}"
            rejects.add(result, lines[0].number, reason, raw_text(lines[0].data))
            return
        middle = len(lines) // 2
        _copy_bisecting(conn, lines[:middle], result, rejects)
        _copy_bisecting(conn, lines[middle:], result, rejects)
        return
    result.lines_loaded += len(lines)


def _raise_if_connection_lost(conn: connection, error: BaseException) -> None:
    if conn.closed:
        raise WarehouseUnreachableError(f"lost the warehouse: {error}") from error


def _first_line(error: psycopg2.Error) -> str:
    text = (error.pgerror or str(error)).strip()
    text = text.removeprefix("ERROR:").strip()
    return text.splitlines()[0] if text else type(error).__name__


def _claim(conn: connection, refs: list[ObjectRef], load_id: str) -> set[str]:
    """Insert the manifest rows first (counts filled in at the end): whoever inserts a key
    loads it; the others skip it. Sorted, so that two loaders never deadlock."""
    with conn.cursor() as cursor:
        rows = execute_values(
            cursor,
            "insert into staging.load_manifest"
            " (s3_key, etag, size_bytes, lines_loaded, lines_rejected, load_id)"
            " values %s on conflict (s3_key) do nothing returning s3_key",
            [
                (ref.key, ref.etag, ref.size, 0, 0, load_id)
                for ref in sorted(refs, key=lambda ref: ref.key)
            ],
            fetch=True,
        )
    return {row[0] for row in rows}


def _finish(
    conn: connection, results: list[ObjectResult], rejects: _RejectSpool, load_id: str
) -> None:
    """Write the rejects, parse the new lines' new user agents, write the manifest counts
    and the run's totals."""
    with conn.cursor() as cursor:
        rejects.copy_into_table(cursor)
        # before commit, so dbt never reads a line whose user agent is not parsed yet
        parse_user_agents(cursor, set().union(*(result.user_agents for result in results)))
        execute_values(
            cursor,
            "update staging.load_manifest as manifest"
            " set lines_loaded = counts.loaded, lines_rejected = counts.rejected"
            " from (values %s) as counts (s3_key, loaded, rejected)"
            " where manifest.s3_key = counts.s3_key",
            [(result.ref.key, result.lines_loaded, result.lines_rejected) for result in results],
        )
        cursor.execute(
            ADD_TO_LOAD_RUN_SQL,
            {
                "load_id": load_id,
                "objects": len(results),
                "lines_loaded": sum(result.lines_loaded for result in results),
                "lines_rejected": sum(result.lines_rejected for result in results),
            },
        )


# Replay: the old manifest rows go, and their counts leave their runs' totals.
_FORGET_MANIFEST_SQL = """
with forgotten as (
    delete from staging.load_manifest where s3_key = any(%(keys)s)
    returning s3_key, load_id, lines_loaded, lines_rejected
),
per_run as (
    select load_id, count(*) as objects, sum(lines_loaded) as lines_loaded,
        sum(lines_rejected) as lines_rejected
    from forgotten group by load_id
),
updated as (
    update staging.load_runs as runs set
        objects = runs.objects - per_run.objects,
        lines_loaded = runs.lines_loaded - per_run.lines_loaded,
        lines_rejected = runs.lines_rejected - per_run.lines_rejected
    from per_run where runs.load_id = per_run.load_id
)
select s3_key from forgotten
"""


def forget_objects(conn: connection, keys: list[str]) -> set[str]:
    """Replay's first step, in the batch's transaction: remove what earlier loads of these
    objects left (raw lines, rejects, manifest rows, and the run totals they count in), and
    leave the marts for the next dbt run to recompute (clickstream.raw_removal). Returns the
    keys that had been loaded."""
    with conn.cursor() as cursor:
        cursor.execute(
            "select min(loaded_at) from staging.load_manifest where s3_key = any(%s)", (keys,)
        )
        row = cursor.fetchone()
        if row is None or row[0] is None:
            return set()
        # An object's lines were loaded with its manifest row (same transaction, same
        # loaded_at) or re-touched since: the bound lets the BRIN index skip older lines.
        remove_raw_lines(
            cursor,
            sql.SQL("s3_key = any(%(keys)s) and loaded_at >= %(since)s"),
            {"keys": keys, "since": row[0]},
        )
        cursor.execute("delete from staging.rejected_events where s3_key = any(%s)", (keys,))
        cursor.execute(_FORGET_MANIFEST_SQL, {"keys": keys})
        return {found[0] for found in cursor.fetchall()}


def load_batch(
    conn: connection,
    batch: list[FetchedObject],
    load_id: str,
    partitions: DayPartitions | None = None,
    *,
    replay: bool = False,
) -> list[ObjectResult]:
    """Load some objects in one transaction; [] when other loaders had them all. The lines'
    day partition (of the transaction's now()) is made sure of first. With `replay`, objects
    loaded before are loaded again, replacing what they left."""
    partitions = partitions or DayPartitions()
    rejects = _RejectSpool(load_id)
    results: list[ObjectResult] = []
    try:
        while not partitions.ready_for_this_transaction(conn):
            pass  # the partition was created in its own transaction: start this one again
        refs = [fetched.ref for fetched in batch]
        replaced = forget_objects(conn, [ref.key for ref in refs]) if replay else set()
        claimed = _claim(conn, refs, load_id)
        mine = [fetched for fetched in batch if fetched.ref.key in claimed]
        if mine:
            results = _load_objects(conn, mine, rejects)
            for result in results:
                result.replaced = result.ref.key in replaced
            _finish(conn, results, rejects, load_id)
        conn.commit()
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    finally:
        rejects.close()
    return results


# ---------------------------------------------------------------------------- entry points


def check_bucket(client: S3Client, bucket: str) -> None:
    """BucketUnreachableError with a one-line reason when the bucket cannot be listed."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket"):
            raise BucketUnreachableError(f"bucket {bucket!r} does not exist") from error
        raise BucketUnreachableError(f"cannot use bucket {bucket!r}: {error}") from error
    except BotoCoreError as error:
        raise BucketUnreachableError(f"cannot reach S3 for bucket {bucket!r}: {error}") from error


def load_new_objects(
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    settings: Settings | None = None,
    progress: bool = False,
    client: S3Client | None = None,
    on_batch: Callable[[list[ObjectResult]], None] | None = None,
    replay: bool = False,
) -> LoadSummary:
    """Load every raw object of the window that is not in the manifest yet (with `replay`,
    every raw object of the window, replacing what earlier loads of it left: `since` is
    then required). Every run that finishes has its row in staging.load_runs, a run that
    found nothing new included."""
    if replay and since is None:
        raise TerminalError("a replay needs --since (and --until): the hours to load again")
    settings = settings or Settings.from_env()
    started = time.monotonic()
    summary = LoadSummary(load_id=str(uuid.uuid4()))
    client = client or s3_client()
    conn = connect()
    listing_conn = connect()
    try:
        conn.set_client_encoding("UTF8")
        ensure_schema(conn)
        listing_conn.autocommit = True
        check_bucket(client, settings.raw_bucket)
        window: Window = choose_window(listing_conn, settings.raw_prefix, since, until)
        summary.window = window.describe()
        log.info(
            "listing %s of s3://%s/%s", summary.window, settings.raw_bucket, settings.raw_prefix
        )
        counts: Counter[str] = Counter()
        listed = _counted(
            list_objects(client, settings.raw_bucket, settings.raw_prefix, window), counts, "all"
        )
        new = _counted(listed if replay else not_in_manifest(listing_conn, listed), counts, "new")
        objects = prefetch(client, settings.raw_bucket, _listing_errors(new, settings))
        _load_all(conn, objects, summary, progress, on_batch, replay)
        summary.objects_already_loaded = counts["all"] - counts["new"]
        if summary.objects == 0:  # no batch wrote the run's row: the run is shown all the same
            _record_run_without_objects(conn, summary.load_id)
    except psycopg2.OperationalError as error:
        raise WarehouseUnreachableError(f"lost the warehouse: {_first_line(error)}") from error
    except psycopg2.Error as error:  # e.g. no privilege on staging: a person must act
        raise TerminalError(f"the warehouse refused the load: {_first_line(error)}") from error
    finally:
        conn.close()
        listing_conn.close()
    summary.seconds = time.monotonic() - started
    return summary


def _load_all(
    conn: connection,
    objects: Iterator[FetchedObject],
    summary: LoadSummary,
    progress: bool,
    on_batch: Callable[[list[ObjectResult]], None] | None,
    replay: bool = False,
) -> None:
    """Load the objects batch by batch, adding each batch's results to the summary."""
    bar = _progress_bar() if progress else None
    partitions = DayPartitions()
    try:
        for batch in batches(objects):
            results = load_batch(conn, batch, summary.load_id, partitions, replay=replay)
            for result in results:
                summary.objects += 1
                summary.objects_replaced += result.replaced
                summary.lines_loaded += result.lines_loaded
                summary.lines_rejected += result.lines_rejected
                summary.objects_unreadable += result.unreadable
            if on_batch is not None:
                on_batch(results)
            if bar is not None:
                bar.update(len(batch))
                bar.set_postfix(lines=summary.lines_loaded, rejected=summary.lines_rejected)
    finally:
        if bar is not None:
            bar.close()


def _counted(refs: Iterable[ObjectRef], counts: Counter[str], name: str) -> Iterator[ObjectRef]:
    for ref in refs:
        counts[name] += 1
        yield ref


def _record_run_without_objects(conn: connection, load_id: str) -> None:
    with conn.cursor() as cursor:
        cursor.execute(
            ADD_TO_LOAD_RUN_SQL,
            {"load_id": load_id, "objects": 0, "lines_loaded": 0, "lines_rejected": 0},
        )
    conn.commit()


def _listing_errors(refs: Iterator[ObjectRef], settings: Settings) -> Iterator[ObjectRef]:
    try:
        yield from refs
    except (BotoCoreError, ClientError) as error:
        raise BucketUnreachableError(
            f"cannot list s3://{settings.raw_bucket}/{settings.raw_prefix}: {error}"
        ) from error


def _progress_bar() -> Any:
    from clickstream.progress import progress_bar  # here: the ETL Lambda never shows a bar

    return progress_bar("loading", unit="obj")


# ---------------------------------------------------------------------------- status


@dataclass
class LoadStatus:
    objects: int
    lines_loaded: int
    lines_rejected: int
    objects_unreadable: int
    first_loaded_at: datetime | None
    last_loaded_at: datetime | None
    last_load_id: str | None
    newest_object: str | None
    rejects_by_reason: list[tuple[str, int]]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("first_loaded_at", "last_loaded_at"):
            value = data[name]
            data[name] = value.isoformat() if value else None
        return data

    def lines(self) -> list[str]:
        text = [
            f"objects loaded:   {self.objects} ({self.objects_unreadable} unreadable)",
            f"lines loaded:     {self.lines_loaded}",
            f"lines rejected:   {self.lines_rejected}",
            f"first load:       {self.first_loaded_at or '-'}",
            f"last load:        {self.last_loaded_at or '-'} (load {self.last_load_id or '-'})",
            f"newest object:    {self.newest_object or '-'}",
        ]
        if self.rejects_by_reason:
            text.append("rejects by reason:")
            text += [f"  {count:>8}  {reason}" for reason, count in self.rejects_by_reason]
        return text


def load_status(settings: Settings | None = None) -> LoadStatus:
    """What the manifest and the rejects say (cheap aggregates; no S3 call)."""
    settings = settings or Settings.from_env()
    conn = connect()
    try:
        ensure_schema(conn)
        with conn.cursor() as cursor:
            cursor.execute(
                "select coalesce(sum(objects), 0)::bigint, coalesce(sum(lines_loaded), 0)::bigint,"
                " coalesce(sum(lines_rejected), 0)::bigint, min(first_loaded_at), max(loaded_at)"
                " from staging.load_runs"
            )
            objects, loaded, rejected, first, last = cursor.fetchone()  # type: ignore[misc]
            cursor.execute("select load_id from staging.load_runs order by loaded_at desc limit 1")
            last_load = cursor.fetchone()
            cursor.execute(
                "select s3_key from staging.load_manifest where starts_with(s3_key, %s)"
                " order by s3_key desc limit 1",
                (settings.raw_prefix,),
            )
            newest = cursor.fetchone()
            # Its own count: the reasons below are only the 20 commonest kinds.
            cursor.execute("select count(*) from staging.rejected_events where line_number is null")
            (unreadable,) = cursor.fetchone()  # type: ignore[misc]
            cursor.execute(
                "select split_part(reason, ':', 1) as kind, count(*)"
                " from staging.rejected_events group by kind order by 2 desc, kind limit 20"
            )
            reasons = cursor.fetchall()
    finally:
        conn.close()
    return LoadStatus(
        objects=objects,
        lines_loaded=loaded,
        lines_rejected=rejected,
        objects_unreadable=unreadable,
        first_loaded_at=first,
        last_loaded_at=last,
        last_load_id=str(last_load[0]) if last_load else None,
        newest_object=newest[0] if newest else None,
        rejects_by_reason=[(row[0], row[1]) for row in reasons],
    )
