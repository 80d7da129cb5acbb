"""The Lambda zips that `make package` builds, run as Lambda would run them: unzipped into a
directory, in a separate Python that sees only the zip's contents plus boto3 (which the
python3.11 runtime provides), against the local PostgreSQL and S3. The ingest handler writes
a raw object; the ETL handler loads it into staging."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode

from clickstream.storage import s3_client
from clickstream.warehouse import connect
from tests.conftest import FIXTURES
from tests.import_graph import import_closure, module_file
from tests.support import unique_name

REPO_ROOT = Path(__file__).resolve().parents[3]
PACKAGE_SCRIPT = REPO_ROOT / "infra" / "scripts" / "package.py"
TEMPLATE = REPO_ROOT / "infra" / "template.yaml"
WHEEL_CACHE = REPO_ROOT / "build" / "cache"
# What Lambda's python3.11 runtime has besides the standard library: boto3 and its own deps.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
INGEST_REQUEST = FIXTURES / "aws" / "apigw_http_v2_post_clickstream.json"
SCHEDULED_EVENT = FIXTURES / "aws" / "eventbridge_scheduled.json"
HANDLERS = {
    "ingest": ("lambdas/ingest/handler.py", "lambdas.ingest.handler.handler"),
    "etl": ("lambdas/etl/handler.py", "lambdas.etl.handler.handler"),
}
# Project files that are not modules, by the module that reads them.
DATA_FILES = {"ingest": set(), "etl": {"extract_load/schema.sql"}}  # extract_load.schema

# Runs in the subprocess: import the handler the way Lambda's bootstrap does, call it with a
# context stand-in, print its answer and where every imported module came from.
RUNNER = """
import importlib, json, sys
module_name, _, function_name = sys.argv[1].rpartition(".")
with open(sys.argv[2]) as handle:
    event = json.load(handle)

class Context:
    aws_request_id = "6f1c4a52-8e0b-4c7e-b7d6-2f9f0d9e3a11"
    function_name = "clickstream-packaged-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:test"
    log_group_name = "/aws/lambda/test"
    log_stream_name = "test"
    def get_remaining_time_in_millis(self):
        return 600_000

result = getattr(importlib.import_module(module_name), function_name)(event, Context())
files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())} - {""})
print(json.dumps({"result": result, "module_files": files}, default=str))
"""


@pytest.fixture(scope="module")
def lambda_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the runtime's packages (boto3 & co.) linked from this venv."""
    runtime = tmp_path_factory.mktemp("lambda-runtime")
    for name in RUNTIME_PACKAGES:
        spec = find_spec(name)
        assert spec is not None, f"{name} is not installed in the venv"
        assert spec.origin is not None
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    return runtime


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Builds one Lambda's zip with the packaging script (once per module) and unzips it."""
    out = tmp_path_factory.mktemp("package")
    done: dict[str, Path] = {}

    def build(name: str) -> Path:
        handler_file, _ = HANDLERS[name]
        if not (REPO_ROOT / handler_file).is_file():
            pytest.skip(f"{handler_file} is not committed yet: nothing to package")
        if name not in done:
            result = subprocess.run(
                [
                    sys.executable,
                    str(PACKAGE_SCRIPT),
                    "lambdas",
                    "--only",
                    name,
                    "--out",
                    str(out),
                    "--cache",
                    str(WHEEL_CACHE),
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            task_root = out / f"{name}-task"
            with zipfile.ZipFile(out / "lambda" / f"{name}.zip") as archive:
                archive.extractall(task_root)
            done[name] = task_root
        return done[name]

    return build


def invoke(
    task_root: Path,
    runtime: Path,
    handler: str,
    event_file: Path,
    overrides: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Run the handler in a fresh interpreter without site-packages (`-S`): only the unzipped
    code, the runtime stand-in and the standard library can be imported. `overrides` sets
    (or, with None, removes) environment variables, as the template's configuration does."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key.startswith(("PG", "AWS_", "RAW_", "CORS_")) or key in {"PATH", "HOME", "TZ"}
    }
    for key, value in (overrides or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    environment["PYTHONPATH"] = f"{task_root}{os.pathsep}{runtime}"
    environment["AWS_LAMBDA_FUNCTION_NAME"] = "clickstream-packaged-test"
    result = subprocess.run(
        [sys.executable, "-S", "-c", RUNNER, handler, str(event_file)],
        cwd=task_root,  # Lambda's working directory is the task root, /var/task
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, f"handler failed:\n{result.stderr[-4000:]}"
    *log_lines, last = result.stdout.strip().splitlines()
    answer: dict[str, Any] = json.loads(last)
    answer["log_lines"] = log_lines
    return answer


def assert_only_packaged_code(answer: dict[str, Any], task_root: Path, runtime: Path) -> None:
    stdlib = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")}
    allowed = [task_root.resolve(), runtime.resolve(), *stdlib]
    for file in answer["module_files"]:
        path = Path(file)
        resolved = path.resolve()
        inside = any(resolved.is_relative_to(root) or path.is_relative_to(root) for root in allowed)
        assert inside or path.is_relative_to(runtime), f"imported from outside the zip: {file}"
        assert "site-packages" not in file or path.is_relative_to(runtime), file


def metric_filter_values(log_lines: list[str]) -> dict[str, list[float]]:
    """What the template's ETL metric filters would extract from these log lines: a small
    evaluator for their `{ $.field = "value" }` patterns and `$.field` values."""
    decoded, _ = decode(str(TEMPLATE))
    assert decoded is not None
    values: dict[str, list[float]] = {}
    for resource in decoded["Resources"].values():
        if resource["Type"] != "AWS::Logs::MetricFilter":
            continue
        properties = resource["Properties"]
        match = re.fullmatch(r'\{ \$\.(\w+) = "([^"]*)" \}', properties["FilterPattern"])
        assert match, f"unexpected pattern {properties['FilterPattern']}"
        field, wanted = match.groups()
        for transformation in properties["MetricTransformations"]:
            value_field = str(transformation["MetricValue"]).removeprefix("$.")
            values[transformation["MetricName"]] = [
                float(entry[value_field])
                for entry in map(json.loads, log_lines)
                if entry.get(field) == wanted
            ]
    return values


def raw_keys(bucket: str) -> list[str]:
    listing = s3_client().list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def invoke_ingest(
    task_root: Path, runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The packaged ingest handler on the sample POST /clickstream request (two events),
    configured as the template does; it must accept them."""
    monkeypatch.setenv("RAW_PREFIX", "events/")
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://shop.example.com")
    answer = invoke(task_root, runtime, HANDLERS["ingest"][1], INGEST_REQUEST)
    assert answer["result"]["statusCode"] == 200, answer["result"]
    return answer


def test_packaged_ingest_writes_a_raw_object(
    unpacked: Callable[[str], Path],
    lambda_runtime: Path,
    raw_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task_root = unpacked("ingest")
    answer = invoke_ingest(task_root, lambda_runtime, monkeypatch)
    keys = raw_keys(raw_bucket)
    assert len(keys) == 1
    assert keys[0].startswith("events/")
    assert keys[0].endswith(".json")
    body = s3_client().get_object(Bucket=raw_bucket, Key=keys[0])["Body"].read()
    lines = body.decode("utf-8").splitlines()
    assert [json.loads(line)["event_id"][-2:] for line in lines] == ["01", "02"]
    assert_only_packaged_code(answer, task_root, lambda_runtime)


@pytest.fixture
def warehouse_secret(services: dict[str, str]) -> Iterator[str]:
    """The local login as a Secrets Manager secret, shaped like the stack's generated one."""
    client = boto3.client("secretsmanager")
    login = {"username": os.environ["PGUSER"], "password": os.environ.get("PGPASSWORD", "")}
    arn = client.create_secret(Name=unique_name("warehouse"), SecretString=json.dumps(login))["ARN"]
    try:
        yield arn
    finally:
        client.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def test_packaged_etl_loads_what_packaged_ingest_wrote(
    unpacked: Callable[[str], Path],
    lambda_runtime: Path,
    raw_bucket: str,
    warehouse_db: str,
    warehouse_secret: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    etl_root = unpacked("etl")
    invoke_ingest(unpacked("ingest"), lambda_runtime, monkeypatch)

    # As the template configures it: a PGUSER the server does not know and no password;
    # the login comes from the secret.
    as_deployed: dict[str, str | None] = {
        "WAREHOUSE_SECRET_ARN": warehouse_secret,
        "PGUSER": "clickstream_etl",
        "PGPASSWORD": None,
    }
    answer = invoke(etl_root, lambda_runtime, HANDLERS["etl"][1], SCHEDULED_EVENT, as_deployed)
    assert answer["result"]["lines_loaded"] == 2
    assert metric_filter_values(answer["log_lines"]) == {
        "EtlLinesLoaded": [2.0],
        "EtlLinesRejected": [0.0],
    }
    assert_only_packaged_code(answer, etl_root, lambda_runtime)
    psycopg2_files = [f for f in answer["module_files"] if "/psycopg2/" in f]
    assert psycopg2_files
    assert all(Path(f).is_relative_to(etl_root) for f in psycopg2_files)
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute("select count(*), count(distinct s3_key) from staging.raw_events")
        assert cursor.fetchone() == (2, 1)
        cursor.execute("select s3_key, lines_loaded from staging.load_manifest")
        assert cursor.fetchall() == [(raw_keys(raw_bucket)[0], 2)]

    # A second scheduled run finds nothing new (the manifest remembers).
    again = invoke(etl_root, lambda_runtime, HANDLERS["etl"][1], SCHEDULED_EVENT, as_deployed)
    assert again["result"]["lines_loaded"] == 0
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute("select count(*) from staging.raw_events")
        assert cursor.fetchone() == (2,)


def project_files_in(archive: Path) -> set[str]:
    """The zip's files from the project's own packages (not psycopg2's wheel)."""
    project_packages = {path.parent.name for path in REPO_ROOT.glob("*/__init__.py")}
    with zipfile.ZipFile(archive) as opened:
        names = [name for name in opened.namelist() if not name.endswith("/")]
    return {name for name in names if name.split("/")[0] in project_packages}


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_each_zip_holds_exactly_what_its_handler_imports(
    unpacked: Callable[[str], Path], name: str
) -> None:
    """No developer tool, CLI or sibling module rides along, and nothing the handler imports
    (at load time or inside a function) is missing. The imports are read with `ast` from the
    handler down through the project's modules."""
    archive = unpacked(name).parent / "lambda" / f"{name}.zip"  # the module's build
    handler_module = HANDLERS[name][1].rpartition(".")[0]
    imported: set[str] = set()
    for module in import_closure([handler_module]):
        file = module_file(module)
        assert file is not None
        imported.add(file.relative_to(REPO_ROOT).as_posix())
    assert project_files_in(archive) == imported | DATA_FILES[name]


def test_lambda_zips_are_reproducible(unpacked: Callable[[str], Path], tmp_path: Path) -> None:
    """Same code, same bytes: CloudFormation then updates a function only when it changed."""
    first = unpacked("ingest").parent / "lambda" / "ingest.zip"  # the module's build
    subprocess.run(
        [
            sys.executable,
            str(PACKAGE_SCRIPT),
            "lambdas",
            "--only",
            "ingest",
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "lambda" / "ingest.zip").read_bytes() == first.read_bytes()
