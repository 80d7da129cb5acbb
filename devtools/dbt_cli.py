"""Runs the project's dbt (the one installed beside this Python) on dbt_project/ with the
profiles in profiles/, which read the PG* variables."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import subprocess
import sys
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from clickstream.config import PROJECT_ROOT
from clickstream.errors import TerminalError

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT_PROFILES_DIR = PROJECT_ROOT / "profiles"
RUN_RESULTS = DBT_PROJECT_DIR / "target" / "run_results.json"


# What an hourly run (and `make demo`, which shows it) builds: every model and data test, not
# the unit tests. A unit test runs a model's SQL on fixed rows, so its result changes only
# when the code does: `make test` and `make dbt-build` run them (with every deploy); run each
# hour they only delayed the marts (dbt runs a model's unit tests before the model, on the
# critical path). Kept in step with infra/host/after_load.py, which builds the same way on
# the warehouse host.
HOURLY_BUILD = ("build", "--exclude", "resource_type:unit_test")


class DbtFailedError(TerminalError):
    """dbt exited non-zero: a model failed to build or a test failed."""


def dbt_command(*arguments: str) -> list[str]:
    """`dbt ARGUMENTS --project-dir dbt_project --profiles-dir profiles`."""
    dbt = Path(sys.executable).with_name("dbt")
    return [
        str(dbt),
        *arguments,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROFILES_DIR),
    ]


def run_dbt(*arguments: str, env: Mapping[str, str] | None = None, quiet: bool = False) -> None:
    """Run dbt; raise DbtFailedError (with its last lines when quiet) if it fails."""
    completed = subprocess.run(
        dbt_command(*arguments),
        env=None if env is None else dict(env),
        cwd=PROJECT_ROOT,
        check=False,
        capture_output=quiet,
        text=True,
    )
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout or "").splitlines()[-30:]) if quiet else ""
        raise DbtFailedError(
            f"dbt {' '.join(arguments)} failed (exit {completed.returncode})\n{tail}"
        )


def run_results(path: Path = RUN_RESULTS) -> list[dict[str, Any]]:
    """The node results of the last dbt run (its run_results.json); [] when dbt stopped
    before writing them."""
    try:
        results: list[dict[str, Any]] = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    return results


def models_out_of_sync(path: Path = RUN_RESULTS) -> list[str]:
    """The incremental models the last dbt run refused because their table's columns differ
    from the model's (built by an earlier version of the models, before a column was added)."""
    return sorted(
        result["unique_id"].rsplit(".", 1)[-1]
        for result in run_results(path)
        if result.get("status") == "error" and "out of sync" in (result.get("message") or "")
    )


class PreparedBuild:
    """An hourly `dbt build` whose fixed cost is paid ahead: a child process starts dbt
    (imports, adapter, profile) and parses the project (partial parsing) as soon as this is
    created, while the caller loads the new raw lines; build() then runs HOURLY_BUILD on that
    manifest. The parse reads no data, so it may run before the load commits; the build reads
    the warehouse only once started. One dbt process, two invocations (dbtRunner, dbt's
    programmatic API): `parse`, then `build` with the parsed manifest."""

    def __init__(self, target_path: Path) -> None:
        context = multiprocessing.get_context("spawn")  # no state of the caller's inherited
        self._connection, child_connection = context.Pipe()
        self._process = context.Process(
            target=_parse_then_build,
            args=(str(target_path), child_connection),
            name="dbt-prepared-build",
            daemon=True,  # never outlives the caller, whatever stops it
        )
        self._process.start()
        child_connection.close()

    def build(self) -> bool:
        """Run the build (after the parse, which may still be running); True if it passed."""
        try:
            self._connection.send(True)
            passed = bool(self._connection.recv())
        except (EOFError, OSError):  # the child died: dbt could not start or parse
            passed = False
        self._finish()
        return passed

    def cancel(self) -> None:
        """No build after all (the load failed)."""
        with contextlib.suppress(OSError):
            self._connection.send(False)
        self._finish()

    def _finish(self) -> None:
        self._connection.close()
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


def _parse_then_build(target_path: str, connection: Connection) -> None:
    # in the child: importing dbt is part of what overlaps the load
    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest

    options = [
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROFILES_DIR),
        "--target-path", target_path,
    ]  # fmt: skip
    parsed = dbtRunner().invoke(["parse", "--quiet", *options])
    if not connection.recv():
        return
    if not parsed.success or not isinstance(parsed.result, Manifest):
        connection.send(False)  # dbt printed why
        return
    built = dbtRunner(manifest=parsed.result).invoke([*HOURLY_BUILD, *options])
    connection.send(bool(built.success))
