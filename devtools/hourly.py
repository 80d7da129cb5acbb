"""`make hourly`: load the new raw objects, `dbt build`, check that data keeps arriving; one
line and a non-zero exit when something needs a person, and an optional notification.

    python -m devtools.hourly [--notify URL_OR_COMMAND] [--stale-after-minutes N]

The events are those the CloudWatch alarms cover in AWS (infra/template.yaml, after_load.py):
- `load_failed`: the loader stopped (bucket or warehouse unreachable, refused...);
- `dbt_failed`: `dbt build` failed: a data test failed, or a model errored;
- `stale`: no raw line loaded for `--stale-after-minutes` (default 120, NoDataAlarmMinutes'
  default); 0 turns the check off.
`--notify` is a webhook URL (http:// or https://: an HTTP POST of a small JSON object:
`{"event", "message", "source", "at"}`) or a command, run with the message as its last
argument (and the event in CLICKSTREAM_ALERT_EVENT). A run that succeeds notifies nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clickstream.errors import ClickstreamError
from devtools.dbt_cli import DBT_PROJECT_DIR, PreparedBuild, run_results

# The loader and the database driver are imported where they are used, not here: importing
# them takes about 1.4 s, and this module is imported twice before dbt can start, once by
# `python -m devtools.hourly` and once more by the dbt process (multiprocessing's spawn
# imports the parent's main module). Light, it lets dbt start at once and import itself while
# the loader imports and loads: dbt's start-up is the hour's critical path
# (docs/benchmarks.md, "Freshness").

DEFAULT_STALE_AFTER_MINUTES = 120  # infra/template.yaml, NoDataAlarmMinutes
NOTIFY_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Alert:
    """What needs a person: the event's name and one line that says what and where to look."""

    event: str
    message: str

    def payload(self) -> dict[str, str]:
        return {
            "event": self.event,
            "message": self.message,
            "source": "clickstream make hourly",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }


# ---------------------------------------------------------------------------- the steps


def load_step() -> Alert | None:
    from extract_load.loader import load_new_objects

    try:
        summary = load_new_objects()
    except ClickstreamError as error:
        return Alert(
            "load_failed",
            f"hourly: load failed: {error} (see docs/extract_load.md; "
            "`python -m extract_load status` for what is loaded)",
        )
    print(summary.one_line(), flush=True)
    return None


def dbt_build_step(prepared: PreparedBuild, target_path: Path) -> Alert | None:
    """`dbt build` (no unit tests: devtools.dbt_cli.HOURLY_BUILD) in the dbt process started
    before the load, its output shown as it comes; on failure, which nodes failed. The same
    target directory every hour, so that dbt's partial parsing (partial_parse.msgpack)
    spares it parsing the project again."""
    if prepared.build():
        return None
    results = target_path / "run_results.json"
    tests, models = failed_nodes(results)
    where = f"see {_shown(results)} and {_shown(DBT_PROJECT_DIR / 'logs' / 'dbt.log')}"
    if tests:
        what = f"{len(tests)} data test(s) failed: {', '.join(tests[:5])}"
        if len(tests) > 5:
            what += ", ..."
        return Alert("dbt_failed", f"hourly: dbt build failed: {what} ({where})")
    if models:
        what = f"{len(models)} model(s) failed: {', '.join(models[:5])}"
        return Alert("dbt_failed", f"hourly: dbt build failed: {what} ({where})")
    return Alert("dbt_failed", f"hourly: dbt build failed before it ran a node ({where})")


def failed_nodes(results_path: Path) -> tuple[list[str], list[str]]:
    """(tests, other nodes) that failed or errored in dbt's run_results.json; empty when
    dbt stopped before writing it."""
    tests: list[str] = []
    others: list[str] = []
    for result in run_results(results_path):
        if result.get("status") not in ("fail", "error", "runtime error"):
            continue
        unique_id: str = result.get("unique_id", "")
        name = unique_id.split(".")[2] if unique_id.count(".") >= 2 else unique_id
        (tests if unique_id.startswith("test.") else others).append(name)
    return tests, others


def freshness_step(stale_after_minutes: int, now: datetime) -> Alert | None:
    """Stale when the newest load that added lines is older than the threshold (or none)."""
    if stale_after_minutes <= 0:
        return None
    import psycopg2

    from clickstream.warehouse import connect
    from extract_load.schema import latest_load

    try:
        conn = connect()
        try:
            latest = latest_load(conn)
        finally:
            conn.close()
    except (psycopg2.Error, ClickstreamError) as error:
        return Alert("load_failed", f"hourly: cannot read the load manifest: {error}")
    if latest is None:
        return Alert(
            "stale",
            "hourly: stale data: no raw line has ever been loaded (is the tracker sending? "
            "see `python -m extract_load status`)",
        )
    minutes = (now - latest).total_seconds() / 60
    if minutes <= stale_after_minutes:
        return None
    return Alert(
        "stale",
        f"hourly: stale data: no raw line loaded for {minutes:.0f} minutes (last load"
        f" {latest:%Y-%m-%d %H:%M} UTC; threshold {stale_after_minutes}); is the ingest"
        " writing to the bucket? see `python -m extract_load status`",
    )


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------- notifying


def notify(target: str, alert: Alert) -> str | None:
    """Send the alert to a webhook URL or a command; None when it went, else why not."""
    if target.startswith(("http://", "https://")):
        return _post(target, alert)
    return _run_command(target, alert)


def _post(url: str, alert: Alert) -> str | None:
    request = urllib.request.Request(  # noqa: S310 (the URL is the operator's own setting)
        url,
        data=json.dumps(alert.payload()).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=NOTIFY_TIMEOUT_SECONDS):  # noqa: S310
            return None
    except (urllib.error.URLError, OSError) as error:
        return f"webhook {url} failed: {error}"


def _run_command(command: str, alert: Alert) -> str | None:
    try:
        argv = [*shlex.split(command), alert.message]
    except ValueError as error:
        return f"cannot parse the notify command {command!r}: {error}"
    if len(argv) == 1:
        return "the notify command is empty"
    try:
        completed = subprocess.run(
            argv,
            env={**os.environ, "CLICKSTREAM_ALERT_EVENT": alert.event},
            timeout=NOTIFY_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"notify command {argv[0]} failed: {error}"
    if completed.returncode != 0:
        return f"notify command {argv[0]} exited {completed.returncode}"
    return None


# ---------------------------------------------------------------------------- entry point


def run_hourly(
    notify_target: str | None = None,
    stale_after_minutes: int = DEFAULT_STALE_AFTER_MINUTES,
    target_path: Path | None = None,
) -> int:
    """Load, build, check freshness; stop at the first alert, print it, notify, exit 1."""
    target_path = target_path or DBT_PROJECT_DIR / "target"
    # dbt starts and parses the project while the loader loads: its fixed cost overlaps
    prepared = PreparedBuild(target_path)
    try:
        alert = load_step()
    except BaseException:
        prepared.cancel()
        raise
    if alert is not None:
        prepared.cancel()
    alert = (
        alert
        or dbt_build_step(prepared, target_path)
        or freshness_step(stale_after_minutes, datetime.now(UTC))
    )
    if alert is None:
        return 0
    print(alert.message, file=sys.stderr, flush=True)
    if notify_target:
        problem = notify(notify_target, alert)
        if problem is not None:
            print(f"hourly: could not notify: {problem}", file=sys.stderr, flush=True)
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.hourly",
        description="Load new raw objects, dbt build, check freshness; alert on failure.",
    )
    parser.add_argument(
        "--notify",
        metavar="URL_OR_COMMAND",
        help="webhook URL (JSON POST) or command (run with the message) to alert",
    )
    parser.add_argument(
        "--stale-after-minutes",
        type=int,
        default=DEFAULT_STALE_AFTER_MINUTES,
        help="alert when no raw line was loaded for this long (0: never)",
    )
    parser.add_argument("--target-path", type=Path, help="dbt's target directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_hourly(args.notify or None, args.stale_after_minutes, args.target_path)


if __name__ == "__main__":
    raise SystemExit(main())
