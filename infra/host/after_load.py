"""dbt build after each load that added rows; run every 15 minutes by a systemd timer.

    after_load.py --state-file PATH [--dbt PATH] [--project-root DIR]

The ETL Lambda records every raw object it loads in `staging.load_manifest`. This script
reads the newest `loaded_at` of an object that added lines and compares it with the one the
last *successful* build saw (kept in the state file). Only when there is something new does
it run `dbt build`; a failed build leaves the state alone, so the next tick tries again.

It also measures the pipeline from the warehouse itself and publishes two CloudWatch metrics
(namespace `$METRIC_NAMESPACE`, dimension `Stack=$STACK_NAME`) that the stack alarms on:

- `MinutesSinceLastLoad`: minutes since the newest load that added lines;
- `DbtBuildFailed`: 1 when this tick's build failed, else 0.

Without `METRIC_NAMESPACE` (on a laptop) the metrics are only printed. One JSON summary line
goes to stdout (the journal) either way. The exit status is 1 when the build failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2

from extract_load.schema import latest_load


@dataclass(frozen=True)
class Outcome:
    latest_load: datetime | None
    built: bool
    build_failed: bool
    minutes_since_last_load: float | None

    def metrics(self) -> dict[str, float]:
        values = {"DbtBuildFailed": 1.0 if self.build_failed else 0.0}
        if self.minutes_since_last_load is not None:
            values["MinutesSinceLastLoad"] = self.minutes_since_last_load
        return values


def read_watermark(state_file: Path) -> datetime | None:
    try:
        state = json.loads(state_file.read_text())
        return datetime.fromisoformat(state["built_through"])
    except FileNotFoundError:
        return None
    except (KeyError, ValueError, TypeError) as error:
        print(f"ignoring an unreadable state file {state_file}: {error}", file=sys.stderr)
        return None


def write_watermark(state_file: Path, built_through: datetime) -> None:
    """Atomically: a crash mid-write must not lose the previous watermark."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = state_file.with_suffix(".tmp")
    temporary.write_text(json.dumps({"built_through": built_through.isoformat()}) + "\n")
    temporary.replace(state_file)


def needs_build(latest: datetime | None, built_through: datetime | None) -> bool:
    if latest is None:
        return False
    return built_through is None or latest > built_through


def run_dbt(dbt: str, project_root: Path) -> bool:
    command = [
        dbt,
        "build",
        # as devtools.dbt_cli.HOURLY_BUILD: unit tests run with each deploy, not each load
        "--exclude",
        "resource_type:unit_test",
        "--project-dir",
        str(project_root / "dbt_project"),
        "--profiles-dir",
        str(project_root / "profiles"),
    ]
    print(f"running: {' '.join(command)}", flush=True)
    return subprocess.run(command, check=False).returncode == 0


def after_load(state_file: Path, dbt: str, project_root: Path, now: datetime) -> Outcome:
    conn = psycopg2.connect(connect_timeout=10, application_name="clickstream-after-load")
    try:
        latest = latest_load(conn)
    finally:
        conn.close()
    built = build_failed = False
    if needs_build(latest, read_watermark(state_file)):
        assert latest is not None  # needs_build says so
        built = True
        if run_dbt(dbt, project_root):
            # The manifest's time, not the clock: a load committing during the build has an
            # older loaded_at than `now` and would otherwise be skipped.
            write_watermark(state_file, latest)
        else:
            build_failed = True
    minutes = None if latest is None else max(0.0, (now - latest).total_seconds() / 60)
    return Outcome(latest, built, build_failed, None if minutes is None else round(minutes, 1))


def publish(metrics: dict[str, float], namespace: str, stack: str, now: datetime) -> None:
    import boto3  # only on the host: a laptop run prints instead

    boto3.client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "Stack", "Value": stack}],
                "Timestamp": now,
                "Value": value,
                "Unit": "None",
            }
            for name, value in metrics.items()
        ],
    )


def summary(outcome: Outcome) -> dict[str, Any]:
    return {
        "message": "after-load check",
        "latest_load": outcome.latest_load.isoformat() if outcome.latest_load else None,
        "built": outcome.built,
        "build_failed": outcome.build_failed,
        "metrics": outcome.metrics(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-file", type=Path, required=True)
    parser.add_argument("--dbt", default="dbt", help="the dbt executable")
    parser.add_argument("--project-root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    try:
        outcome = after_load(args.state_file, args.dbt, args.project_root, now)
    except psycopg2.OperationalError as error:
        print(f"cannot reach the warehouse: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    print(json.dumps(summary(outcome)), flush=True)
    namespace = os.environ.get("METRIC_NAMESPACE")
    if namespace:
        publish(outcome.metrics(), namespace, os.environ.get("STACK_NAME", "local"), now)
    return 1 if outcome.build_failed else 0


if __name__ == "__main__":
    sys.exit(main())
