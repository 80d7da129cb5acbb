"""The Spark loader's steps that need no Spark: reading a mirrored object with the PostgreSQL
loader's rules, and the journal of the batch in flight."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

from extract_load.lines import Line, line_reason
from extract_load.listing import ObjectRef
from extract_load.spark_load import Journal, mirror_path, read_object

AGENT = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
GOOD = b'{"event_id":"e1","ingest":{"user_agent":"' + AGENT.encode() + b'"}}'


def line_reason_of(data: bytes) -> str | None:
    return line_reason(Line(1, data, len(data)))


def ref(key: str, body: bytes) -> ObjectRef:
    return ObjectRef(key, len(body), "etag")


def test_lines_are_judged_as_on_postgresql_and_blank_lines_skipped(tmp_path: Path) -> None:
    body = GOOD + b"\n\n[1]\n" + b'{"event_id":"e2"}' + b"\n" + b"{broken"
    path = tmp_path / "object.json"
    path.write_bytes(body)

    read = read_object(ref("events/2026/03/02/10/a.json", body), path)

    assert read.rows == [(GOOD.decode(), 1), ('{"event_id":"e2"}', 4)]
    assert [(number, reason) for number, reason, _ in read.rejects] == [
        (3, "not a JSON object (a JSON array)"),
        (5, line_reason_of(b"{broken")),
    ]
    assert read.rejects[1][2] == "{broken"
    assert read.user_agents == {AGENT}


def test_gzip_objects_are_read_and_a_broken_one_is_one_reject(tmp_path: Path) -> None:
    zipped = gzip.compress(GOOD + b"\n")
    path = tmp_path / "object.json.gz"
    path.write_bytes(zipped)
    assert read_object(ref("events/2026/03/02/10/b.json.gz", zipped), path).rows == [
        (GOOD.decode(), 1)
    ]

    broken = zipped[: len(zipped) // 2]
    path.write_bytes(broken)
    read = read_object(ref("events/2026/03/02/10/b.json.gz", broken), path)
    assert read.rows == []
    ((number, reason, raw),) = read.rejects
    assert (number, raw) == (None, None)
    assert reason.startswith("unreadable object: EOFError")


def test_the_journal_holds_the_batch_in_flight_until_it_ends(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.pending() is None
    journal.begin(date(2026, 3, 2), ["events/a.json", "events/b.json"])
    assert Journal(tmp_path).pending() == (date(2026, 3, 2), ["events/a.json", "events/b.json"])
    journal.end()
    assert journal.pending() is None


def test_the_mirror_keeps_the_bucket_layout(tmp_path: Path) -> None:
    key = "events/2026/03/02/10/events-x.json"
    assert mirror_path(key, tmp_path) == tmp_path / "raw" / key
