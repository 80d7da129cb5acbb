"""`make hourly` (devtools/hourly.py) against the real PostgreSQL, S3 and dbt: one line and
exit 1 when the load or a data test fails, the alert delivered to a real webhook on loopback
and to a command; a successful run notifies nothing."""

from __future__ import annotations

import json
import shlex
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from clickstream.storage import s3_client
from devtools.hourly import Alert, freshness_step, main
from devtools.traffic import generate_requests, write_requests_to_s3
from tests.integration.dbt_support import execute, shared_target_path

pytestmark = pytest.mark.slow

SESSION_NOT_NULL = "not_null_clickstream_events_session_id"


class Webhook:
    """An HTTP server on 127.0.0.1 that keeps the JSON body of every POST it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    yield server
    server.close()


def _command_hook(output: Path) -> str:
    """A command that writes its environment's event and its last argument to `output`."""
    code = (
        "import os, pathlib, sys; pathlib.Path(sys.argv[1]).write_text("
        "os.environ['CLICKSTREAM_ALERT_EVENT'] + '|' + sys.argv[2])"
    )
    return shlex.join([sys.executable, "-c", code, str(output)])


def _hourly(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, list[str]]:
    """Run `python -m devtools.hourly` in this process; its exit code and stderr lines."""
    code = main([*arguments, "--target-path", str(shared_target_path())])
    return code, capsys.readouterr().err.splitlines()


def test_a_failing_load_exits_1_with_one_line_and_notifies_the_webhook_and_the_command(
    warehouse_db: str,
    webhook: Webhook,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAW_BUCKET", "no-such-bucket-hourly")

    code, lines = _hourly(capsys, "--notify", webhook.url)

    assert code == 1
    assert lines == [
        "hourly: load failed: bucket 'no-such-bucket-hourly' does not exist (see"
        " docs/extract_load.md; `python -m extract_load status` for what is loaded)"
    ]
    assert [(alert["event"], alert["message"]) for alert in webhook.received] == [
        ("load_failed", lines[0])
    ]
    assert webhook.received[0]["source"] == "clickstream make hourly"

    output = tmp_path / "alert.txt"
    code, lines = _hourly(capsys, "--notify", _command_hook(output))
    assert code == 1
    assert output.read_text() == f"load_failed|{lines[0]}"


def test_a_good_run_notifies_nothing_and_a_failing_data_test_alerts(
    warehouse_db: str,
    raw_bucket: str,
    webhook: Webhook,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    day = datetime.now(UTC).date() - timedelta(days=1)
    write_requests_to_s3(
        generate_requests(200, 1, day, seed=21), raw_bucket, "events/", s3_client()
    )

    code, lines = _hourly(capsys, "--notify", webhook.url)
    assert (code, lines) == (0, [])
    assert webhook.received == []

    # A kept event loses its session id: the next build's not_null test fails on it.
    execute(
        "update public.clickstream_events set session_id = null where event_id ="
        " (select event_id from public.clickstream_events order by loaded_at desc limit 1)"
    )
    output = tmp_path / "alert.txt"
    code, lines = _hourly(capsys, "--notify", webhook.url)
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith(
        f"hourly: dbt build failed: 1 data test(s) failed: {SESSION_NOT_NULL}"
    )
    assert "run_results.json" in lines[0]
    assert [(alert["event"], alert["message"]) for alert in webhook.received] == [
        ("dbt_failed", lines[0])
    ]

    code, lines = _hourly(capsys, "--notify", _command_hook(output))
    assert code == 1
    assert output.read_text() == f"dbt_failed|{lines[0]}"


def test_no_load_for_longer_than_the_threshold_is_stale(warehouse_db: str) -> None:
    execute(
        "create schema staging; create table staging.load_manifest"
        " (s3_key text, lines_loaded integer, loaded_at timestamptz)"
    )
    assert freshness_step(120, datetime.now(UTC)) == Alert(
        "stale",
        "hourly: stale data: no raw line has ever been loaded (is the tracker sending? "
        "see `python -m extract_load status`)",
    )
    loaded_at = datetime(2026, 3, 2, 9, tzinfo=UTC)
    execute("insert into staging.load_manifest values ('k', 3, %s)", loaded_at)
    assert freshness_step(120, loaded_at + timedelta(minutes=119)) is None
    stale = freshness_step(120, loaded_at + timedelta(minutes=180))
    assert stale is not None
    assert stale.event == "stale"
    assert stale.message.startswith("hourly: stale data: no raw line loaded for 180 minutes")
    assert freshness_step(0, loaded_at + timedelta(days=30)) is None  # the check turned off
