"""Spark benchmark (issue 12): the same raw objects loaded and built on PostgreSQL and on Spark.

N generated events (default 1,000,000, BENCH_SPARK_EVENTS) packed into objects of about
1,000 lines, written once to the bucket `bench-spark`. Then, each on an empty warehouse and
each step in its own process:
- PostgreSQL: `python -m extract_load load`, then the first `dbt build`;
- Spark with local[1], then local[2] (SPARK_MASTER): `python -m extract_load load --engine
  spark`, then `dbt build --target spark`, each Spark warehouse in a directory of its own
  under .local/bench-spark/.
Reported: load and build seconds per engine, Spark's build time over PostgreSQL's, and the
local[1] / local[2] ratio (how much a second core helps; on EMR, executors scale the same
way). A build that fails (models not ported yet) is reported as failed with its failing
nodes, never timed as if it had passed.

    make bench BENCH_ARGS=spark
    BENCH_SPARK_EVENTS=5000 python -m devtools.services exec -- .venv/bin/python -m bench spark
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bench.report import write_section
from clickstream.config import PROJECT_ROOT
from clickstream.storage import s3_client
from clickstream.warehouse import create_database, drop_database
from devtools.buckets import create_bucket_if_missing, delete_objects
from devtools.dbt_cli import dbt_command, run_results
from devtools.traffic import generate_requests, write_requests_to_s3

BUCKET = "bench-spark"
PREFIX = "events/"
EVENTS = int(os.environ.get("BENCH_SPARK_EVENTS", "1000000"))
DAYS = 14
EVENTS_PER_OBJECT = 1000
START = date(2026, 3, 2)
SEED = 2028
DATABASE = "bench_spark"
SPARK_DIR = PROJECT_ROOT / ".local" / "bench-spark"
CORES = (1, 2)


@dataclass
class Timing:
    engine: str
    load_seconds: float = 0.0
    build_seconds: float = 0.0
    lines: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _run(command: list[str], environment: dict[str, str], log: Path) -> tuple[float, int]:
    """Run a step in its own process; its wall seconds and exit code (output kept in `log`)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as output:
        completed = subprocess.run(
            command,
            env=environment,
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return time.monotonic() - started, completed.returncode


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text().splitlines() if line.startswith("loaded ")]
    return lines[-1] if lines else ""


def write_traffic() -> None:
    client = s3_client()
    create_bucket_if_missing(client, BUCKET)
    delete_objects(client, BUCKET, PREFIX)
    requests = generate_requests(EVENTS, DAYS, START, seed=SEED)
    write_requests_to_s3(requests, BUCKET, PREFIX, client, events_per_object=EVENTS_PER_OBJECT)


def _failures(target: Path, exit_code: int) -> list[str]:
    failed = [
        result["unique_id"]
        for result in run_results(target / "run_results.json")
        if result.get("status") in ("error", "fail", "runtime error")
    ]
    if exit_code != 0 and not failed:
        failed = [f"dbt exited {exit_code} (see {target / 'dbt-output.txt'})"]
    return failed


def on_postgres(environment: dict[str, str]) -> Timing:
    timing = Timing("PostgreSQL")
    drop_database(DATABASE)
    create_database(DATABASE)
    env = {**environment, "PGDATABASE": DATABASE}
    target = SPARK_DIR / "postgres-target"
    load = [sys.executable, "-m", "extract_load", "load", "--since", "2026-01-01"]
    timing.load_seconds, code = _run(load, env, target / "load-output.txt")
    timing.lines = _last_line(target / "load-output.txt")
    if code != 0:
        timing.failures = [f"load exited {code}"]
        return timing
    build = dbt_command("build", "--target-path", str(target))
    timing.build_seconds, code = _run(build, env, target / "dbt-output.txt")
    timing.failures = _failures(target, code)
    return timing


def on_spark(environment: dict[str, str], cores: int) -> Timing:
    timing = Timing(f"Spark local[{cores}]")
    home = SPARK_DIR / f"local-{cores}"
    shutil.rmtree(home, ignore_errors=True)
    env = {**environment, "SPARK_HOME_DIR": str(home), "SPARK_MASTER": f"local[{cores}]"}
    load = [sys.executable, "-m", "extract_load", "load", "--engine", "spark"]
    load += ["--since", "2026-01-01"]
    timing.load_seconds, code = _run(load, env, home / "load-output.txt")
    timing.lines = _last_line(home / "load-output.txt")
    if code != 0:
        timing.failures = [f"load exited {code} (see {home / 'load-output.txt'})"]
        return timing
    target = home / "dbt-target"
    build = dbt_command("build", "--target", "spark", "--target-path", str(target))
    timing.build_seconds, code = _run(build, env, target / "dbt-output.txt")
    timing.failures = _failures(target, code)
    return timing


def _row(timing: Timing) -> str:
    build = f"{timing.build_seconds:.0f}" if timing.passed else "failed"
    return f"| {timing.engine} | {timing.load_seconds:.0f} | {build} | {timing.lines} |"


def _ratio(numerator: Timing, denominator: Timing) -> str:
    if not (numerator.passed and denominator.passed) or denominator.build_seconds <= 0:
        return "n/a (a build failed)"
    return f"{numerator.build_seconds / denominator.build_seconds:.2f}"


def report(postgres: Timing, sparks: dict[int, Timing], load_average: float) -> str:
    scale = (
        ""
        if EVENTS == 1_000_000
        else f"\n**Reduced scale** (BENCH_SPARK_EVENTS={EVENTS:,}), not the issue's 1,000,000.\n"
    )
    failures = [
        f"- {timing.engine}: {len(timing.failures)} failed: {', '.join(timing.failures[:8])}"
        for timing in (postgres, *sparks.values())
        if timing.failures
    ]
    failed_text = ("\nFailed builds:\n" + "\n".join(failures) + "\n") if failures else ""
    return f"""
`bench/bench_spark.py`: {EVENTS:,} generated events over {DAYS} days in objects of about
{EVENTS_PER_OBJECT:,} lines, loaded and built on an empty warehouse per engine, each step in
its own process (Spark in-process through dbt-spark's session method, Derby metastore, Parquet
under .local/bench-spark/). Seconds are wall time on a shared 2-core machine (load average
{load_average:.1f} when the run started): compare within one run.
{scale}
| engine | load (s) | first dbt build (s) | loader's summary |
| --- | --- | --- | --- |
{_row(postgres)}
{chr(10).join(_row(timing) for timing in sparks.values())}

Spark local[2] build / PostgreSQL build: {_ratio(sparks[2], postgres)}.
Spark local[1] build / local[2] build (what a second core buys): {_ratio(sparks[1], sparks[2])}.
{failed_text}"""


def main() -> None:
    environment = {**os.environ, "RAW_BUCKET": BUCKET, "RAW_PREFIX": PREFIX}
    load_average = os.getloadavg()[0]
    write_traffic()
    postgres = on_postgres(environment)
    sparks = {cores: on_spark(environment, cores) for cores in CORES}
    drop_database(DATABASE)
    body = report(postgres, sparks, load_average)
    write_section("spark", "Spark: load + dbt build beside PostgreSQL", body)


if __name__ == "__main__":
    main()
