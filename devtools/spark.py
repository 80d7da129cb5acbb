"""The local Spark of the `spark` dbt target (issue 12, docs/scale.md): one configuration for
dbt, the Spark loader (extract_load/spark_load.py), the tests and the bench.

The settings live in ONE place, the `spark` target's `server_side_parameters` in
profiles/profiles.yml, which dbt-spark's `session` method passes to SparkSession.builder.
`spark_session()` reads the same parameters (rendering their `env_var(...)` as dbt does) and
adds what dbt-spark itself forces, so every session of the project sees the same warehouse
directory, Derby metastore, time zone and SQL semantics.

Embedded Derby admits one JVM at a time: a process that opened a session must `stop_spark()`
(which ends its JVM) before dbt or the loader runs in another process.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; dbt brings it

from clickstream.config import PROJECT_ROOT
from clickstream.errors import TerminalError, TransientError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PROFILES_FILE = PROJECT_ROOT / "profiles" / "profiles.yml"
PROFILE_NAME = "clickstream"
TARGET_NAME = "spark"
DEFAULT_HOME_DIR = PROJECT_ROOT / ".local" / "spark"

# dbt-spark overrides this parameter whatever the profile says (dbt/adapters/spark/
# connections.py): the loader and the tests must see the same SQL semantics as the models.
FORCED_BY_DBT_SPARK = {"spark.sql.ansi.enabled": "false"}


class SparkUnavailableError(TerminalError):
    """pyspark or Java is missing: `make setup-spark` installs both."""


class SparkBusyError(TransientError):
    """Another process holds the Derby metastore: it must finish first."""


def spark_home_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the Spark warehouse, metastore and raw mirror live (SPARK_HOME_DIR, absolute)."""
    configured = environ.get("SPARK_HOME_DIR")
    return Path(configured).resolve() if configured else DEFAULT_HOME_DIR


def spark_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The variables to give a dbt process so that it uses the same Spark as this one."""
    return {"SPARK_HOME_DIR": str(spark_home_dir(environ))}


def missing_requirement() -> str | None:
    """Why Spark cannot run here (for a test's skip reason), or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (make setup-spark)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "java is not installed (make setup-spark installs openjdk-17-jre-headless)"
    return None


def ensure_metastore_free(home: Path) -> None:
    """SparkBusyError when another JVM has the Derby metastore under `home` open. Derby holds
    an exclusive lock on metastore_db/dbex.lck while it runs (Java's FileLock: a POSIX lock,
    which fcntl sees); Spark's own error for it is a page of Java stack traces."""
    lock_file = home / "metastore_db" / "dbex.lck"
    if not lock_file.exists():
        return
    with lock_file.open("ab") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            raise SparkBusyError(
                f"the Spark metastore {lock_file.parent} is in use by another process (embedded"
                " Derby admits one at a time: the loader, dbt or a test on the same"
                " SPARK_HOME_DIR); run this again when it has finished"
            ) from error
        fcntl.lockf(handle, fcntl.LOCK_UN)


def session_parameters(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The `spark` target's server_side_parameters, rendered as dbt renders them, with
    SPARK_HOME_DIR made absolute, plus what dbt-spark forces."""
    profile = yaml.safe_load(PROFILES_FILE.read_text())
    try:
        raw = profile[PROFILE_NAME]["outputs"][TARGET_NAME]["server_side_parameters"]
    except (KeyError, TypeError) as error:
        raise TerminalError(f"{PROFILES_FILE} has no {TARGET_NAME!r} target") from error
    variables = {**environ, **spark_env(environ)}

    def env_var(name: str, default: str | None = None) -> str:
        if name in variables:
            return variables[name]
        if default is None:
            raise TerminalError(f"the {TARGET_NAME!r} profile needs the variable {name}")
        return default

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    rendered = {
        str(key): environment.from_string(str(value)).render(env_var=env_var)
        for key, value in raw.items()
    }
    return {**rendered, **FORCED_BY_DBT_SPARK}


def spark_session(environ: Mapping[str, str] = os.environ, **overrides: Any) -> SparkSession:
    """The project's SparkSession (Hive catalog, as dbt-spark's session method builds it).
    `overrides` replace profile parameters (e.g. a bench's spark.master)."""
    reason = missing_requirement()
    if reason is not None:
        raise SparkUnavailableError(f"Spark cannot run: {reason}")
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    home = spark_home_dir(environ)
    home.mkdir(parents=True, exist_ok=True)
    if SparkContext._active_spark_context is None:  # else getOrCreate reuses this JVM's
        ensure_metastore_free(home)
    builder = SparkSession.builder.enableHiveSupport().appName("clickstream")
    for key, value in {**session_parameters(environ), **overrides}.items():
        builder = builder.config(key, str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def stop_spark() -> None:
    """Stop the session AND its JVM: Derby's lock on the metastore is held until the JVM
    ends, so dbt or the loader in another process could not open it otherwise."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    # pyspark's JVM exits when its stdin closes (PythonGatewayServer watches it)
    process = getattr(gateway, "proc", None)
    if process is not None:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=60)
    SparkContext._gateway = None
    SparkContext._jvm = None


@contextmanager
def spark_for(environ: Mapping[str, str] = os.environ, **overrides: Any) -> Iterator[SparkSession]:
    """A session for a block, its JVM ended after (see stop_spark)."""
    session = spark_session(environ, **overrides)
    try:
        yield session
    finally:
        stop_spark()
