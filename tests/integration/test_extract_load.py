"""The loader against the real local PostgreSQL and S3: every line once, rejects with their
reasons, concurrency, a loader killed mid-load, the listing window, the CLI."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from clickstream.config import PROJECT_ROOT
from clickstream.raw_layout import encode_ndjson
from clickstream.storage import s3_client
from clickstream.warehouse import connect
from devtools.traffic import Request, generate_requests, write_requests_to_s3
from extract_load.lines import MAX_LINE_BYTES
from extract_load.loader import (
    LoadPath,
    LoadSummary,
    ObjectResult,
    load_new_objects,
    load_status,
)
from extract_load.schema import ensure_schema, rebuild_load_runs

DAY = date(2026, 3, 2)


def put(bucket: str, key: str, body: bytes) -> None:
    s3_client().put_object(Bucket=bucket, Key=key, Body=body)


def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(sql, params or None)
        rows = cursor.fetchall()
    conn.close()
    return rows


def loaded_lines() -> dict[tuple[str, int], dict[str, Any]]:
    rows = query("select s3_key, line_number, payload from staging.raw_events")
    lines = {(key, number): payload for key, number, payload in rows}
    assert len(lines) == len(rows), "a line was loaded twice"
    return lines


def assert_run_totals_match_the_manifest() -> None:
    """staging.load_runs sums the manifest, per run, whatever happened to the loaders (a run
    that loaded no object has a row with zeros, and no manifest row)."""
    per_run = (
        "select load_id::text, count(*), sum(lines_loaded), sum(lines_rejected)"
        " from staging.load_manifest group by load_id order by 1"
    )
    runs = (
        "select load_id::text, objects, lines_loaded, lines_rejected from staging.load_runs"
        " where objects > 0"
    )
    assert query(runs + " order by 1") == query(per_run)


def collect(results: list[ObjectResult]) -> Callable[[list[ObjectResult]], None]:
    """An on_batch callback that keeps every object's result."""
    return results.extend


def expected_lines(requests: list[Request]) -> dict[tuple[str, int], dict[str, Any]]:
    return {
        (request.object_key("events/"), number): line
        for request in requests
        for number, line in enumerate(request.lines(), start=1)
    }


def write(requests: list[Request], bucket: str, **options: Any) -> None:
    write_requests_to_s3(requests, bucket, "events/", s3_client(), **options)


def test_generated_objects_load_every_line_once_and_a_second_run_loads_nothing(
    warehouse_db: str, raw_bucket: str
) -> None:
    requests = list(generate_requests(400, 1, DAY, seed=5, retry_rate=0.02))
    write(requests, raw_bucket)
    expected = expected_lines(requests)

    summary = load_new_objects()

    assert summary.objects == len(requests)
    assert summary.lines_loaded == len(expected)
    assert summary.lines_rejected == 0
    assert loaded_lines() == expected
    manifest = query("select s3_key, lines_loaded, lines_rejected from staging.load_manifest")
    assert sorted(manifest) == sorted(
        (request.object_key("events/"), len(request.events), 0) for request in requests
    )
    again = load_new_objects()
    assert (again.objects, again.lines_loaded) == (0, 0)
    assert again.objects_already_loaded == len(requests)
    assert again.one_line().endswith(f"; {len(requests)} objects already loaded")
    assert len(loaded_lines()) == len(expected)
    status = load_status()
    assert (status.objects, status.lines_loaded, status.lines_rejected) == (
        len(requests),
        len(expected),
        0,
    )


def test_packed_and_gzip_objects_load(warehouse_db: str, raw_bucket: str) -> None:
    requests = list(generate_requests(1000, 1, DAY, seed=6))
    write(requests, raw_bucket, events_per_object=300)
    lines = [line for request in requests for line in request.lines()]
    put(
        raw_bucket,
        "events/2026/03/02/10/events-zipped.json.gz",
        gzip.compress(encode_ndjson(lines)),
    )

    summary = load_new_objects()

    assert summary.lines_loaded == 2 * len(lines)
    zipped = query(
        "select line_number, payload from staging.raw_events where s3_key like '%zipped%'"
        " order by line_number"
    )
    assert [payload for _, payload in zipped] == lines
    assert [number for number, _ in zipped] == list(range(1, len(lines) + 1))


GOOD = b'{"event_id":"%d","ok":true}'
BAD_LINES: list[tuple[bytes, str | None]] = [
    # (line, reason prefix); None: it loads; "blank": skipped, not an event.
    (GOOD % 1, None),
    (b'{"event_id":"2"', "invalid JSON: Expecting ',' delimiter"),
    (b'{"event_id":"3","name":"caf\xe9"}', "invalid UTF-8: 'utf-8' codec can't decode byte 0xe9"),
    (b'{"event_id":"4","name":"a\\u0000b"}', "\\u0000 escape: PostgreSQL jsonb cannot store"),
    (b'{"event_id":"5","pad":"' + b"x" * MAX_LINE_BYTES + b'"}', "line longer than 1048576"),
    (b'[{"event_id":"6"}]', "not a JSON object (a JSON array)"),
    (b"7", "not a JSON object (a JSON number)"),
    (b'"eight"', "not a JSON object (a JSON string)"),
    (b'{"event_id":"9","price":NaN}', "invalid JSON: NaN is not JSON"),
    (b'{"event_id":"10","price":1e1000000}', "refused by PostgreSQL: value overflows numeric"),
    (b'{"event_id":"11","name":"\\ud800"}', "refused by PostgreSQL: "),
    (b"", "blank"),
    (b"   \t", "blank"),
    (b'{"event_id":"14","ctl":"\x01"}', "invalid JSON: Invalid control character"),
    (b'  {"event_id":"15","escaped":"\\\\u0000"}', None),
    (b'{"event_id":"16","crlf":true}\r', None),
    (b'{"event_id":"17","quote":"a\\"b,c\\nd"}', None),
]


def test_each_kind_of_bad_line_is_rejected_with_its_reason_while_its_neighbours_load(
    warehouse_db: str, raw_bucket: str
) -> None:
    key = "events/2026/03/02/10/events-bad.json"
    body = b"\n".join(line for line, _ in BAD_LINES) + b"\n" + GOOD % 99  # no final newline
    put(raw_bucket, key, body)
    put(raw_bucket, "events/2026/03/02/10/events-good.json", GOOD % 100 + b"\n")
    results: list[ObjectResult] = []

    summary = load_new_objects(on_batch=collect(results))

    good = {number for number, (_, reason) in enumerate(BAD_LINES, 1) if reason is None}
    good.add(len(BAD_LINES) + 1)
    bad = {n: reason for n, (_, reason) in enumerate(BAD_LINES, 1) if reason not in (None, "blank")}
    loaded = loaded_lines()
    assert {number for (k, number) in loaded if k == key} == good
    assert loaded[(key, 17)] == {"event_id": "17", "quote": 'a"b,c\nd'}
    assert loaded[("events/2026/03/02/10/events-good.json", 1)] == {"event_id": "100", "ok": True}
    rejects = {
        number: (reason, raw)
        for number, reason, raw in query(
            "select line_number, reason, raw_line from staging.rejected_events where s3_key = %s",
            key,
        )
    }
    assert set(rejects) == set(bad)
    for number, prefix in bad.items():
        assert rejects[number][0].startswith(prefix), (number, rejects[number][0])
    assert rejects[3][1] == '{"event_id":"3","name":"caf\\xe9"}'
    assert len(rejects[5][1]) == 4096
    assert (summary.lines_loaded, summary.lines_rejected) == (len(good) + 1, len(bad))
    assert query(
        "select lines_loaded, lines_rejected from staging.load_manifest where s3_key = %s", key
    ) == [(len(good), len(bad))]
    # The batch's fast COPY was refused, so each object went on its own: the good one on the
    # fast path, the bad one on the careful path, with PostgreSQL's refusal as the reason.
    by_name = {result.ref.key.rsplit("/", 1)[1]: result for result in results}
    assert (by_name["events-good.json"].path, by_name["events-good.json"].reason) == (
        LoadPath.FAST,
        None,
    )
    careful = by_name["events-bad.json"]
    assert careful.path is LoadPath.CAREFUL
    assert careful.reason is not None
    assert careful.reason.startswith("PostgreSQL refused the fast COPY: ")
    assert (careful.lines_loaded, careful.lines_rejected) == (len(good), len(bad))


def test_an_unreadable_object_is_recorded_once_and_never_blocks_the_others(
    warehouse_db: str, raw_bucket: str
) -> None:
    good = gzip.compress(GOOD % 1 + b"\n" + GOOD % 2 + b"\n")
    put(raw_bucket, "events/2026/03/02/10/events-1.json.gz", good)
    put(raw_bucket, "events/2026/03/02/10/events-2.json.gz", b"this is not gzip")
    put(raw_bucket, "events/2026/03/02/10/events-3.json.gz", good[: len(good) // 2])  # truncated
    put(raw_bucket, "events/2026/03/02/10/events-4.json", GOOD % 4 + b"\n")
    results: list[ObjectResult] = []

    summary = load_new_objects(on_batch=collect(results))

    assert (summary.objects, summary.objects_unreadable, summary.lines_loaded) == (4, 2, 3)
    rejects = query(
        "select s3_key, line_number, reason, raw_line from staging.rejected_events order by 1"
    )
    assert [(key.rsplit("/", 1)[1], number, raw) for key, number, _, raw in rejects] == [
        ("events-2.json.gz", None, None),
        ("events-3.json.gz", None, None),
    ]
    assert rejects[0][2].startswith("unreadable object: BadGzipFile: Not a gzipped file")
    assert rejects[1][2].startswith("unreadable object: EOFError: Compressed file ended")
    outcomes = sorted(
        (result.ref.key.rsplit("/", 1)[1], result.path, result.reason) for result in results
    )
    assert outcomes == [
        ("events-1.json.gz", LoadPath.FAST, None),
        ("events-2.json.gz", LoadPath.UNREADABLE, rejects[0][2]),
        ("events-3.json.gz", LoadPath.UNREADABLE, rejects[1][2]),
        ("events-4.json", LoadPath.FAST, None),
    ]
    assert load_status().objects_unreadable == 2
    # Recorded in the manifest with its reject: not retried at every run, nothing lost.
    assert load_new_objects().objects == 0
    assert query(
        "select lines_loaded, lines_rejected from staging.load_manifest where s3_key like %s",
        "%-2.json.gz",
    ) == [(0, 1)]


def test_status_counts_unreadable_objects_past_the_twenty_commonest_reject_kinds(
    warehouse_db: str, raw_bucket: str
) -> None:
    put(raw_bucket, "events/2026/03/02/10/events-1.json.gz", b"this is not gzip")
    load_new_objects()
    # 25 other kinds of reject, each more frequent than the unreadable object's one: the
    # status lists the 20 commonest kinds, and must not count unreadable objects among them.
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "insert into staging.rejected_events (s3_key, line_number, reason)"
            " select 'events/2026/03/02/10/events-2.json', kind * 10 + copy,"
            "        format('kind %s: made up for the test', kind)"
            " from generate_series(1, 25) as kind, generate_series(1, 2) as copy"
        )
    conn.close()

    status = load_status()

    assert status.objects_unreadable == 1
    assert len(status.rejects_by_reason) == 20
    assert "unreadable object" not in dict(status.rejects_by_reason)


def test_a_run_that_finds_nothing_new_has_its_row_and_a_rebuild_keeps_it(
    warehouse_db: str, raw_bucket: str
) -> None:
    empty = load_new_objects()  # nothing in the bucket yet
    _put_hour(raw_bucket, "2026/03/02/10", 1)
    full = load_new_objects()
    again = load_new_objects()  # nothing new
    runs = "select load_id::text, objects, lines_loaded, lines_rejected from staging.load_runs"
    expected = sorted([(empty.load_id, 0, 0, 0), (full.load_id, 1, 1, 0), (again.load_id, 0, 0, 0)])
    assert sorted(query(runs)) == expected
    assert query(
        "select count(*) from staging.load_runs where load_id = %s and loaded_at >= %s",
        again.load_id,
        query("select loaded_at from staging.load_runs where load_id = %s", full.load_id)[0][0],
    ) == [(1,)]
    assert_run_totals_match_the_manifest()

    with connect() as conn, conn.cursor() as cursor:
        cursor.execute("update staging.load_runs set lines_loaded = 99 where objects > 0")
        rebuild_load_runs(cursor)
    conn.close()

    assert sorted(query(runs)) == expected


def _load_in_thread(results: list[LoadSummary], errors: list[BaseException]) -> None:
    try:
        results.append(load_new_objects(client=s3_client()))
    except BaseException as error:  # surfaced by the test thread
        errors.append(error)


def test_two_loaders_at_once_load_each_line_once(warehouse_db: str, raw_bucket: str) -> None:
    requests = list(generate_requests(1200, 1, DAY, seed=8))
    write(requests, raw_bucket)
    expected = expected_lines(requests)
    results: list[LoadSummary] = []
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_load_in_thread, args=(results, errors)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sum(result.objects for result in results) == len(requests)
    assert sum(result.lines_loaded for result in results) == len(expected)
    assert loaded_lines() == expected
    assert_run_totals_match_the_manifest()


def test_ensure_schema_does_not_wait_for_an_open_load(warehouse_db: str, raw_bucket: str) -> None:
    """A second loader starts while the first one's batch is open: the schema it ensures
    already exists, so it must not queue behind that batch's locks (it used to: `create index
    if not exists` locks the table before it looks)."""
    write(list(generate_requests(10, 1, DAY, seed=9)), raw_bucket)
    load_new_objects(client=s3_client())  # the schema and today's partition exist
    open_load = connect()
    try:
        with open_load.cursor() as cursor:  # the locks a loader's batch holds until it commits
            cursor.execute("insert into staging.raw_events select * from staging.raw_events")
            cursor.execute("insert into staging.rejected_events (s3_key, reason) values ('k', 'r')")
            cursor.execute("update staging.load_runs set objects = objects")
        second_loader = connect()
        try:
            with second_loader.cursor() as cursor:
                cursor.execute("set lock_timeout = '3s'")
            ensure_schema(second_loader)
        finally:
            second_loader.close()
    finally:
        open_load.rollback()
        open_load.close()


def _loader_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "extract_load", *arguments]


KILLABLE_LOADER = """
import sys, time
import extract_load.loader as loader
loader.BATCH_MAX_OBJECTS = 2  # many small transactions: the kill lands between or inside one
def committed(results):
    print(len(results), flush=True)
    time.sleep(0.02)
loader.load_new_objects(on_batch=committed)
"""


def test_a_loader_killed_mid_load_and_run_again_loads_each_line_once(
    warehouse_db: str, raw_bucket: str
) -> None:
    requests = list(generate_requests(6000, 1, DAY, seed=9))
    write(requests, raw_bucket, events_per_object=100)
    expected_count = sum(len(request.events) for request in requests)
    process = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_LOADER],
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert process.stdout is not None
    for _ in range(3):  # three transactions committed, then kill it wherever it is
        assert process.stdout.readline().strip()
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = query("select count(*), coalesce(sum(lines_loaded), 0) from staging.load_manifest")
    ((manifest_objects, manifest_lines),) = before
    assert manifest_objects >= 3
    assert query("select count(*) from staging.raw_events") == [(manifest_lines,)]

    summary = load_new_objects()

    assert summary.lines_loaded == expected_count - manifest_lines
    assert summary.lines_loaded > 0
    rows = query("select count(*), count(distinct (s3_key, line_number)) from staging.raw_events")
    assert rows == [(expected_count, expected_count)]
    assert_run_totals_match_the_manifest()


def _put_hour(bucket: str, hour: str, event_id: int) -> None:
    put(bucket, f"events/{hour}/events-{event_id}.json", GOOD % event_id + b"\n")


def test_since_and_until_narrow_the_listing_and_the_default_window_follows_the_manifest(
    warehouse_db: str, raw_bucket: str
) -> None:
    _put_hour(raw_bucket, "2026/02/20/23", 1)  # old, far before the others
    _put_hour(raw_bucket, "2026/03/01/08", 2)
    _put_hour(raw_bucket, "2026/03/01/09", 3)
    _put_hour(raw_bucket, "2026/03/02/10", 4)

    only = load_new_objects(
        datetime(2026, 3, 1, 9, tzinfo=UTC), datetime(2026, 3, 1, 9, tzinfo=UTC)
    )
    assert only.lines_loaded == 1
    assert only.window == "hours 2026-03-01T09 to 2026-03-01T09 UTC"
    later = load_new_objects(datetime(2026, 3, 1, 10, tzinfo=UTC))
    assert later.lines_loaded == 1  # 2026-03-02T10
    # Default: from the newest loaded hour minus two days: 03-01T08 is found, 02-20 is not.
    default = load_new_objects()
    assert default.window.startswith("hours 2026-02-28T10 to ")
    assert default.lines_loaded == 1
    assert load_new_objects(datetime(2026, 2, 1, tzinfo=UTC)).lines_loaded == 1
    ids = sorted(payload["event_id"] for payload in loaded_lines().values())
    assert ids == ["1", "2", "3", "4"]


def test_an_empty_manifest_lists_the_whole_prefix(warehouse_db: str, raw_bucket: str) -> None:
    _put_hour(raw_bucket, "2019/10/01/00", 1)
    put(raw_bucket, "events/2019/10/01/00/notes.txt", b"not a raw object")
    put(raw_bucket, "other/2026/03/02/10/events-2.json", GOOD % 2 + b"\n")
    summary = load_new_objects()
    assert (summary.window, summary.objects, summary.lines_loaded) == ("the whole prefix", 1, 1)


def _run_cli(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _loader_command(*arguments),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, **environment},
        timeout=120,
        check=False,
    )


def test_cli_loads_with_since_until_and_prints_one_line(warehouse_db: str, raw_bucket: str) -> None:
    _put_hour(raw_bucket, "2026/03/01/09", 1)
    _put_hour(raw_bucket, "2026/03/02/10", 2)
    result = _run_cli("load", "--since", "2026-03-01", "--until", "2026-03-01T23")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("loaded 1 objects: 1 lines loaded, 0 rejected in ")
    assert result.stdout.count("\n") == 1
    status = _run_cli("status", "--json")
    assert json.loads(status.stdout)["lines_loaded"] == 1


def test_cli_says_in_one_line_when_the_warehouse_cannot_be_reached(
    warehouse_db: str, raw_bucket: str
) -> None:
    result = _run_cli("load", PGPORT="1", PGHOST="127.0.0.1")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "error: cannot reach the warehouse at postgresql://127.0.0.1:1/"
    )
    assert result.stderr.count("\n") == 1


def test_cli_says_in_one_line_when_the_bucket_is_missing(warehouse_db: str) -> None:
    result = _run_cli("load", RAW_BUCKET="no-such-bucket-h1")
    assert result.returncode == 1
    assert result.stderr == "error: bucket 'no-such-bucket-h1' does not exist\n"


def test_cli_refuses_a_bad_hour_in_one_line() -> None:
    result = _run_cli("load", "--since", "yesterday")
    assert result.returncode == 2
    assert "expected YYYY-MM-DD or YYYY-MM-DDTHH (UTC), got 'yesterday'" in result.stderr
    assert "Traceback" not in result.stderr
