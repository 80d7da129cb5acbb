"""The scripts the deployment runs outside Lambda, against the real local services:
infra/host/after_load.py (dbt build after each load that added rows, the pipeline metrics)
and infra/scripts/empty_bucket.py (`make destroy` empties a versioned bucket)."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql

from clickstream.errors import WarehouseUnreachableError
from clickstream.storage import s3_client
from clickstream.warehouse import connect, drop_database
from extract_load.schema import ensure_schema
from tests.support import unique_name

REPO_ROOT = Path(__file__).resolve().parents[3]


def load_script(relative: str) -> ModuleType:
    path = REPO_ROOT / relative
    name = f"infra_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


after_load = load_script("infra/host/after_load.py")
empty_bucket = load_script("infra/scripts/empty_bucket.py")


# --------------------------------------------------------------------------- after_load


@pytest.fixture
def dbt_stand_in(tmp_path: Path) -> tuple[Path, Path]:
    """An executable in dbt's place that records its arguments and exits with the status in
    a file next to it. The real `dbt build` is dbt_project's own tests' business: this
    checks when the host decides to build, and what it does with the outcome."""
    calls = tmp_path / "dbt-calls.txt"
    status = tmp_path / "dbt-status"
    status.write_text("0")
    script = tmp_path / "dbt"
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit "$(cat {status})"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, status


def add_manifest_row(key: str, lines_loaded: int, loaded_at: datetime) -> None:
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "insert into staging.load_manifest"
            " (s3_key, etag, size_bytes, lines_loaded, lines_rejected, loaded_at, load_id)"
            " values (%s, 'etag', 100, %s, 0, %s, gen_random_uuid())",
            (key, lines_loaded, loaded_at),
        )


@dataclass
class AfterLoad:
    """after_load.main with the dbt stand-in, publishing no metric."""

    dbt: Path
    dbt_status: Path  # the stand-in's exit status
    capsys: pytest.CaptureFixture[str]

    def main(self, state_file: Path) -> int:
        """Run it; its exit status (what it printed is in `capsys`)."""
        return after_load.main(
            [
                "--state-file",
                str(state_file),
                "--dbt",
                str(self.dbt),
                "--project-root",
                str(REPO_ROOT),
            ]
        )

    def __call__(self, state_file: Path) -> tuple[int, dict[str, Any]]:
        """Run it; its exit status and the JSON summary it prints last."""
        status = self.main(state_file)
        summary = json.loads(self.capsys.readouterr().out.strip().splitlines()[-1])
        return status, summary

    def builds(self) -> list[str]:
        """The arguments of every dbt call so far, one line a call."""
        calls = self.dbt.parent / "dbt-calls.txt"
        return calls.read_text().splitlines() if calls.exists() else []


@pytest.fixture
def run_after_load(
    dbt_stand_in: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> AfterLoad:
    monkeypatch.delenv("METRIC_NAMESPACE", raising=False)
    dbt, dbt_status = dbt_stand_in
    return AfterLoad(dbt, dbt_status, capsys)


def test_no_manifest_yet_means_no_build_and_no_load_age(
    run_after_load: AfterLoad, warehouse_db: str, tmp_path: Path
) -> None:
    status, summary = run_after_load(tmp_path / "state.json")
    assert status == 0
    assert summary["built"] is False
    # No MinutesSinceLastLoad at all: the alarm treats the missing metric as "no data".
    assert summary["metrics"] == {"DbtBuildFailed": 0.0}
    assert run_after_load.builds() == []


def test_builds_once_per_load_that_added_rows(
    run_after_load: AfterLoad, warehouse_db: str, tmp_path: Path
) -> None:
    state = tmp_path / "state" / "after_load.json"
    with connect() as conn:
        ensure_schema(conn)
    three_hours_ago = datetime.now(UTC) - timedelta(hours=3)
    add_manifest_row("events/a.json", 5, three_hours_ago)

    status, summary = run_after_load(state)
    assert (status, summary["built"]) == (0, True)
    assert run_after_load.builds() == [
        "build --exclude resource_type:unit_test"  # as make hourly: unit tests run with deploys
        f" --project-dir {REPO_ROOT / 'dbt_project'} --profiles-dir {REPO_ROOT / 'profiles'}"
    ]
    assert 179 <= summary["metrics"]["MinutesSinceLastLoad"] <= 185
    assert json.loads(state.read_text())["built_through"] == three_hours_ago.isoformat()

    # Nothing new: no build. A load that added no line is not new data either.
    add_manifest_row("events/empty.json", 0, datetime.now(UTC))
    status, summary = run_after_load(state)
    assert (status, summary["built"], len(run_after_load.builds())) == (0, False, 1)

    add_manifest_row("events/b.json", 3, datetime.now(UTC) - timedelta(minutes=1))
    status, summary = run_after_load(state)
    assert (status, summary["built"], len(run_after_load.builds())) == (0, True, 2)
    assert summary["metrics"]["MinutesSinceLastLoad"] < 5


def test_a_failed_build_is_reported_and_retried(
    run_after_load: AfterLoad, warehouse_db: str, tmp_path: Path
) -> None:
    state = tmp_path / "after_load.json"
    with connect() as conn:
        ensure_schema(conn)
    add_manifest_row("events/a.json", 5, datetime.now(UTC))
    run_after_load.dbt_status.write_text("1")

    status, summary = run_after_load(state)
    assert (status, summary["build_failed"]) == (1, True)
    assert summary["metrics"]["DbtBuildFailed"] == 1.0
    assert not state.exists()  # the watermark only moves on success

    run_after_load.dbt_status.write_text("0")
    status, summary = run_after_load(state)
    assert (status, summary["built"], summary["metrics"]["DbtBuildFailed"]) == (0, True, 0.0)
    assert len(run_after_load.builds()) == 2


def test_unreachable_warehouse_is_one_line_and_publishes_nothing(
    run_after_load: AfterLoad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", "1")  # nothing listens on port 1
    status = run_after_load.main(tmp_path / "s.json")
    captured = run_after_load.capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert captured.err.startswith("cannot reach the warehouse:")
    assert len(captured.err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- empty_bucket


def test_empty_bucket_deletes_every_version_and_delete_marker(
    raw_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_client()
    client.put_bucket_versioning(Bucket=raw_bucket, VersioningConfiguration={"Status": "Enabled"})
    for number in range(4):
        client.put_object(Bucket=raw_bucket, Key=f"events/{number}.json", Body=b"{}\n")
        client.put_object(Bucket=raw_bucket, Key=f"events/{number}.json", Body=b"{}\n{}\n")
    client.delete_object(Bucket=raw_bucket, Key="events/0.json")  # leaves a delete marker
    listing = client.list_object_versions(Bucket=raw_bucket)
    assert len(listing["Versions"]) == 8
    assert len(listing["DeleteMarkers"]) == 1

    monkeypatch.setattr(empty_bucket, "DELETE_BATCH", 4)  # several DeleteObjects calls
    assert empty_bucket.empty_bucket(raw_bucket, client) == 9
    listing = client.list_object_versions(Bucket=raw_bucket)
    assert not listing.get("Versions")
    assert not listing.get("DeleteMarkers")
    client.put_bucket_versioning(Bucket=raw_bucket, VersioningConfiguration={"Status": "Suspended"})


# --------------------------------------------------------------------------- warehouse roles

set_passwords = load_script("infra/host/set_passwords.py")
ROLES_SQL = REPO_ROOT / "infra" / "host" / "warehouse_roles.sql"
ROLE_VARIABLES = ("owner", "etl_role", "reader_role")


@pytest.fixture
def host_roles(services: dict[str, str]) -> Iterator[dict[str, str]]:
    """warehouse_roles.sql's database and roles, under throwaway names, dropped afterwards
    (roles are cluster-wide: the real names are never created here)."""
    names = {
        "database": unique_name("host_dw"),
        "owner": unique_name("owner"),
        "etl_role": unique_name("etl"),
        "reader_role": unique_name("reader"),
    }
    stranger = unique_name("stranger")
    try:
        yield {**names, "stranger": stranger}
    finally:
        drop_database(names["database"])
        conn = connect(dbname="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                for role in [*(names[key] for key in ROLE_VARIABLES), stranger]:
                    cursor.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
        finally:
            conn.close()


def pgserver_psql() -> str:
    """psql from the pgserver wheel that runs the embedded PostgreSQL (no system install)."""
    spec = importlib.util.find_spec("pgserver")
    assert spec is not None
    assert spec.submodule_search_locations
    return str(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / "psql")


def run_roles_sql(names: dict[str, str]) -> None:
    variables = [
        arg for key in ("database", *ROLE_VARIABLES) for arg in ("-v", f"{key}={names[key]}")
    ]
    psql = pgserver_psql() if os.environ.get("PGHOST") == "127.0.0.1" else "psql"
    result = subprocess.run(
        [psql, "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", "postgres", *variables, "-f", ROLES_SQL],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_host_roles_can_do_their_job_and_no_more(host_roles: dict[str, str]) -> None:
    run_roles_sql(host_roles)
    run_roles_sql(host_roles)  # idempotent: bootstrap runs it on every upgrade
    database = host_roles["database"]
    with connect(dbname="postgres") as admin:
        admin.autocommit = True
        set_passwords.set_password(admin, host_roles["etl_role"], "etl-secret-1")

    # The ETL creates its tables in the staging schema it owns, and loads them.
    with connect(dbname=database, user=host_roles["etl_role"]) as etl:
        ensure_schema(etl)
        with etl.cursor() as cursor:
            cursor.execute(
                "insert into staging.load_manifest (s3_key, size_bytes, lines_loaded,"
                " lines_rejected, load_id) values ('events/a.json', 1, 1, 0, gen_random_uuid())"
            )
        etl.commit()

    # dbt (the owner) reads staging and builds in public.
    with connect(dbname=database, user=host_roles["owner"]) as owner, owner.cursor() as cursor:
        cursor.execute("select count(*) from staging.load_manifest")
        assert cursor.fetchone() == (1,)
        cursor.execute("create table public.fct_example as select 1 as one")
        owner.commit()

    # Analysts read everything and write nothing.
    with connect(dbname=database, user=host_roles["reader_role"]) as reader:
        with reader.cursor() as cursor:
            cursor.execute("select count(*) from staging.load_manifest")
            assert cursor.fetchone() == (1,)
            cursor.execute("select one from public.fct_example")
            assert cursor.fetchone() == (1,)
        for statement in (
            "delete from staging.load_manifest",
            "insert into public.fct_example values (2)",
            "create table public.mine (x int)",
            "create schema mine",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege), reader.cursor() as cursor:
                cursor.execute(statement)
            reader.rollback()

    # Nobody else may connect (the database's default PUBLIC connect is revoked).
    with connect(dbname="postgres") as admin, admin.cursor() as cursor:
        cursor.execute(
            sql.SQL("create role {} login").format(sql.Identifier(host_roles["stranger"]))
        )
        admin.commit()
    with pytest.raises(WarehouseUnreachableError, match="permission denied"):
        connect(dbname=database, user=host_roles["stranger"])
