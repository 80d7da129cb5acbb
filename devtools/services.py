"""The embedded default: a real PostgreSQL and a local S3 endpoint, started by the project.

With `PGHOST` unset, a PostgreSQL server (binaries from the `pgserver` wheel) runs from
`.local/pgdata`, listening on 127.0.0.1 only, with database `clickstream_dw`. With
`AWS_ENDPOINT_URL` unset and no AWS credentials, moto's S3 server runs on 127.0.0.1 and the
raw bucket is created. Starting is idempotent; the data directory survives restarts.

    python -m devtools.services up|down|status|env
    python -m devtools.services exec -- COMMAND...   # run COMMAND with the PG*/AWS* variables
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clickstream.config import DEFAULT_DATABASE, PROJECT_ROOT, Settings
from clickstream.errors import ClickstreamError

LOCAL_DIR = Path(os.environ.get("CLICKSTREAM_LOCAL_DIR", PROJECT_ROOT / ".local"))
PG_DATA = LOCAL_DIR / "pgdata"
PG_LOG = LOCAL_DIR / "postgres.log"
S3_LOG = LOCAL_DIR / "s3.log"
STATE_FILE = LOCAL_DIR / "services.json"
LOCK_FILE = LOCAL_DIR / "services.lock"

LOOPBACK = "127.0.0.1"
PG_PREFERRED_PORT = 54329
S3_PREFERRED_PORT = 54330
PG_SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; pgserver's helpers create this system user for it.
PG_SYSTEM_USER = "pgserver"

# Tuned for a developer laptop or CI: bulk loads, not durability across power loss.
PG_SETTINGS = {
    "listen_addresses": LOOPBACK,
    "unix_socket_directories": "",
    "synchronous_commit": "off",
    "shared_buffers": "512MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
    "max_connections": "200",
    "log_min_messages": "warning",
}

LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class ServiceError(ClickstreamError):
    """An embedded service could not be started or stopped."""


@dataclass(frozen=True)
class Plan:
    """Which services this environment needs the project to run itself."""

    embedded_postgres: bool
    embedded_s3: bool

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Plan:
        return cls(
            embedded_postgres=not environ.get("PGHOST"),
            embedded_s3=not environ.get("AWS_ENDPOINT_URL") and not _has_aws_credentials(environ),
        )


def _has_aws_credentials(environ: Mapping[str, str]) -> bool:
    if environ.get("AWS_ACCESS_KEY_ID") or environ.get("AWS_PROFILE"):
        return True
    home = Path(environ.get("HOME", "~")).expanduser()
    credentials_file = Path(environ.get("AWS_SHARED_CREDENTIALS_FILE", home / ".aws/credentials"))
    return credentials_file.is_file()


# --------------------------------------------------------------------------- state


def _read_state() -> dict[str, dict[str, int]]:
    try:
        state: dict[str, dict[str, int]] = json.loads(STATE_FILE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return state


def _write_state(state: dict[str, dict[str, int]]) -> None:
    STATE_FILE.write_text(json.dumps(state, indent=2) + "\n")


@contextmanager
def _exclusive_lock() -> Iterator[None]:
    """Serialise starts and stops between concurrent processes (make -j, pytest workers, demo)."""
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _choose_port(preferred: int) -> int:
    if _port_is_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
    return port


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- PostgreSQL


def _pg_install_dir() -> Path:
    """The PostgreSQL build inside the pgserver wheel. Found without importing pgserver,
    whose import has side effects (runtime directories, locks) that we do not need."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("the pgserver package is not installed: run `make setup`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _pg_bin(name: str) -> str:
    return str(_pg_install_dir() / "bin" / name)


def _grant_traversal(path: Path) -> None:
    """Let other users walk down to `path` (o+x on every parent, as pgserver does)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def _grant_read(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        wanted = mode | 0o044 | (0o011 if path.is_dir() or mode & 0o100 else 0)
        if wanted != mode:
            path.chmod(wanted)


def _run_as_postgres_owner(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program as a non-root user when we are root."""
    user = PG_SYSTEM_USER if os.geteuid() == 0 else None
    return subprocess.run(argv, user=user, check=False, capture_output=True, text=True, timeout=120)


def _prepare_root_permissions() -> None:
    """As root, let the unprivileged server user reach its binaries and data directory."""
    if os.geteuid() != 0:
        return
    import pwd

    try:
        owner = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_SYSTEM_USER], check=True)
        owner = pwd.getpwnam(PG_SYSTEM_USER)
    install = _pg_install_dir()
    _grant_traversal(install)
    _grant_read(install)
    PG_DATA.mkdir(parents=True, exist_ok=True)
    _grant_traversal(PG_DATA.parent)
    PG_LOG.touch(exist_ok=True)
    for path in (PG_DATA, PG_LOG):
        os.chown(path, owner.pw_uid, owner.pw_gid)


def _initdb_if_needed() -> None:
    if (PG_DATA / "PG_VERSION").exists():
        return
    PG_DATA.mkdir(parents=True, exist_ok=True)
    PG_DATA.chmod(0o700)
    _prepare_root_permissions()
    result = _run_as_postgres_owner(
        [
            _pg_bin("initdb"),
            "-D",
            str(PG_DATA),
            "-U",
            PG_SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]
    )
    if result.returncode != 0:
        raise ServiceError(f"initdb failed in {PG_DATA}:\n{result.stderr.strip()}")


def _postgres_pid() -> int | None:
    pid_file = PG_DATA / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _wait_for_port(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _start_postgres(state: dict[str, dict[str, int]]) -> int:
    _initdb_if_needed()
    _prepare_root_permissions()
    known_port = state.get("postgres", {}).get("port")
    if _postgres_pid() is not None and known_port:
        return known_port
    port = _choose_port(known_port or PG_PREFERRED_PORT)
    options = " ".join(f"-c {name}={value or repr('')}" for name, value in PG_SETTINGS.items())
    result = _run_as_postgres_owner(
        [
            _pg_bin("pg_ctl"),
            "-D",
            str(PG_DATA),
            "-l",
            str(PG_LOG),
            "-o",
            f"-p {port} {options}",
            "-w",
            "-t",
            "60",
            "start",
        ]
    )
    if result.returncode != 0 or not _wait_for_port(port, 30):
        log_tail = PG_LOG.read_text()[-2000:] if PG_LOG.exists() else ""
        raise ServiceError(
            f"PostgreSQL did not start on {LOOPBACK}:{port}: {result.stderr.strip()}\n{log_tail}"
        )
    state["postgres"] = {"port": port}
    return port


def _ensure_database(port: int, database: str) -> None:
    import psycopg2

    admin = psycopg2.connect(
        host=LOOPBACK, port=port, user=PG_SUPERUSER, dbname="postgres", connect_timeout=10
    )
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute("select 1 from pg_database where datname = %s", (database,))
            if cursor.fetchone() is None:
                cursor.execute(f'create database "{database}"')
    finally:
        admin.close()


def _stop_postgres() -> bool:
    if _postgres_pid() is None:
        return False
    result = _run_as_postgres_owner(
        [_pg_bin("pg_ctl"), "-D", str(PG_DATA), "-m", "fast", "-w", "-t", "60", "stop"]
    )
    if result.returncode != 0:
        raise ServiceError(f"pg_ctl stop failed: {result.stderr.strip()}")
    return True


# --------------------------------------------------------------------------- S3


def _s3_is_answering(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/", timeout=2) as response:
            return bool(response.status < 500)
    except urllib.error.HTTPError as error:
        return error.code < 500
    except OSError:
        return False


def _start_s3(state: dict[str, dict[str, int]]) -> int:
    known = state.get("s3", {})
    if known.get("pid") and _pid_alive(known["pid"]) and _s3_is_answering(known["port"]):
        return known["port"]
    port = _choose_port(known.get("port") or S3_PREFERRED_PORT)
    with S3_LOG.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while not _s3_is_answering(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise ServiceError(f"the local S3 endpoint did not start on port {port}; see {S3_LOG}")
        time.sleep(0.1)
    state["s3"] = {"port": port, "pid": process.pid}
    return port


def _ensure_bucket(bucket: str) -> None:
    from clickstream.storage import s3_client

    client = s3_client()
    existing = {entry["Name"] for entry in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)


def _stop_s3(state: dict[str, dict[str, int]]) -> bool:
    pid = state.get("s3", {}).get("pid")
    if not pid or not _pid_alive(pid):
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid):
        os.killpg(pid, signal.SIGKILL)
    return True


# --------------------------------------------------------------------------- public API


def postgres_env(port: int, database: str = DEFAULT_DATABASE) -> dict[str, str]:
    return {
        "PGHOST": LOOPBACK,
        "PGPORT": str(port),
        "PGUSER": PG_SUPERUSER,
        "PGPASSWORD": "",
        "PGDATABASE": database,
    }


def s3_env(port: int) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": f"http://{LOOPBACK}:{port}", **LOCAL_AWS_ENV}


def ensure_up(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Start what the environment does not provide; return the variables that reach it.

    The returned mapping holds only what the project sets; merge it over os.environ."""
    environ = dict(os.environ if environ is None else environ)
    plan = Plan.from_env(environ)
    added: dict[str, str] = {}
    if not (plan.embedded_postgres or plan.embedded_s3):
        return added
    with _exclusive_lock():
        state = _read_state()
        if plan.embedded_postgres:
            port = _start_postgres(state)
            added.update(postgres_env(port, environ.get("PGDATABASE") or DEFAULT_DATABASE))
            _ensure_database(port, added["PGDATABASE"])
        if plan.embedded_s3:
            added.update(s3_env(_start_s3(state)))
        _write_state(state)
        # Inside the lock: parallel test workers start together, and only one creates it.
        if plan.embedded_s3:
            _ensure_bucket_with(added)
    return added


def _ensure_bucket_with(added: Mapping[str, str]) -> None:
    """Create the raw bucket through the endpoint `added` names (os.environ as it was after)."""
    previous = {name: os.environ.get(name) for name in added}
    os.environ.update(added)
    try:
        _ensure_bucket(Settings.from_env().raw_bucket)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def ensure_down() -> list[str]:
    """Stop whatever embedded service is running. The data directory is kept."""
    stopped = []
    with _exclusive_lock():
        state = _read_state()
        if _stop_postgres():
            stopped.append("postgres")
        if _stop_s3(state):
            stopped.append("s3")
        _write_state({key: value for key, value in state.items() if key == "postgres"})
    return stopped


def status() -> dict[str, str]:
    plan = Plan.from_env()
    state = _read_state()
    report = {}
    if plan.embedded_postgres:
        port = state.get("postgres", {}).get("port")
        where = f"running on {LOOPBACK}:{port}" if _postgres_pid() is not None else "stopped"
        report["postgres"] = f"embedded, {where} (data: {PG_DATA})"
    else:
        report["postgres"] = f"external: {os.environ.get('PGHOST')}"
    if plan.embedded_s3:
        s3 = state.get("s3", {})
        running = bool(s3.get("pid")) and _pid_alive(s3["pid"]) and _s3_is_answering(s3["port"])
        where = f"running on http://{LOOPBACK}:{s3['port']}" if running else "stopped"
        report["s3"] = f"embedded, {where}"
    else:
        report["s3"] = f"external: {os.environ.get('AWS_ENDPOINT_URL') or 'AWS'}"
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.services",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["up", "down", "status", "env", "exec"])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="with exec: the command to run")
    args = parser.parse_args(argv)
    try:
        if args.action == "down":
            stopped = ensure_down()
            print(f"stopped: {', '.join(stopped)}" if stopped else "nothing embedded was running")
            return 0
        if args.action == "status":
            for name, line in status().items():
                print(f"{name}: {line}")
            return 0
        added = ensure_up()
        if args.action == "up":
            for name, line in status().items():
                print(f"{name}: {line}")
            return 0
        if args.action == "env":
            for name, value in added.items():
                print(f"export {name}={shlex.quote(value)}")
            return 0
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("exec needs a command after --")
        os.execvpe(command[0], command, {**os.environ, **added})  # noqa: S606
    except ClickstreamError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
