"""devtools/spark.py without starting Spark: the sessions' settings come from the profile's
`spark` target, and a metastore another process holds is refused with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devtools.spark import SparkBusyError, ensure_metastore_free, session_parameters

HOLD_LOCK = """
import fcntl, sys, time
handle = open(sys.argv[1], "ab")
fcntl.lockf(handle, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


def test_the_session_settings_are_the_profiles_with_spark_home_dir_made_absolute(
    tmp_path: Path,
) -> None:
    parameters = session_parameters({"SPARK_HOME_DIR": str(tmp_path), "SPARK_MASTER": "local[1]"})

    assert parameters["spark.master"] == "local[1]"
    assert parameters["spark.sql.warehouse.dir"] == f"{tmp_path}/warehouse"
    assert parameters["spark.hadoop.javax.jdo.option.ConnectionURL"] == (
        f"jdbc:derby:;databaseName={tmp_path}/metastore_db;create=true"
    )
    assert parameters["spark.sql.session.timeZone"] == "UTC"
    # what dbt-spark forces on its own sessions, whatever the profile says
    assert parameters["spark.sql.ansi.enabled"] == "false"


def test_a_metastore_held_by_another_process_is_refused(tmp_path: Path) -> None:
    lock_file = tmp_path / "metastore_db" / "dbex.lck"
    lock_file.parent.mkdir()
    lock_file.touch()
    ensure_metastore_free(tmp_path)  # nobody holds it

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(SparkBusyError, match="in use by another process"):
            ensure_metastore_free(tmp_path)
    finally:
        holder.communicate("")
    ensure_metastore_free(tmp_path)  # free again once the holder has gone
