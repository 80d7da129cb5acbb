"""`make deploy` and `make destroy`'s scripts, with the AWS control plane (CloudFormation,
STS, SSM) played by a stand-in `aws` command that records its calls. S3 is the real local
endpoint: destroy empties a real versioned bucket before it deletes the stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clickstream.storage import s3_client
from tests.support import unique_name

REPO_ROOT = Path(__file__).resolve().parents[3]
ACCOUNT = "123456789012"
AMI = "ami-0123456789abcdef0"
INSTANCE = "i-0abc1234def567890"

# The stand-in: logs argv (and, at delete-stack, how many versions the bucket still holds) to
# $FAKE_AWS_LOG, answers from $FAKE_AWS_STATE, and does the raw bucket's S3 calls for real.
FAKE_AWS = r"""
import json, os, sys

args = sys.argv[1:]
state = json.load(open(os.environ["FAKE_AWS_STATE"]))
record = {"argv": args}

def option(name):
    return args[args.index(name) + 1] if name in args else None

def s3():
    import boto3  # only for the few calls that touch S3: it is slow to import

    return boto3.client("s3")

def bucket_exists(bucket):
    return bucket in [b["Name"] for b in s3().list_buckets()["Buckets"]]

def bucket_versions(bucket):
    listing = s3().list_object_versions(Bucket=bucket)
    return len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))

def answer():
    command = args[:2]
    query = option("--query") or ""
    if command == ["configure", "get"]:
        return "us-east-1"
    if command[0] == "sts":
        return state["account"]
    if command == ["cloudformation", "describe-stacks"]:
        if not state["stack_exists"]:
            sys.exit(254)
        for key, value in state["outputs"].items():
            if f"'{key}'" in query:
                return value
        return "\n".join(f"{k}\t{v}" for k, v in state["outputs"].items())
    if command == ["cloudformation", "delete-stack"]:
        record["raw_bucket_exists"] = bucket_exists(state["outputs"]["RawBucketName"])
    if command == ["cloudformation", "deploy"]:
        state["stack_exists"] = True
        json.dump(state, open(os.environ["FAKE_AWS_STATE"], "w"))
    if command == ["cloudformation", "package"]:
        open(option("--output-template-file"), "w").write("packaged: true\n")
    if command == ["s3api", "head-bucket"] and not bucket_exists(option("--bucket")):
        sys.exit(254)
    if command == ["s3api", "delete-bucket"]:
        record["versions_left"] = bucket_versions(option("--bucket"))
        s3().delete_bucket(Bucket=option("--bucket"))
    if command == ["ssm", "get-parameter"]:
        return state["ami"]
    if command == ["ssm", "send-command"]:
        return "command-1"
    if command == ["ssm", "get-command-invocation"]:
        return "Success" if query == "Status" else "bootstrap done"
    return None

try:
    output = answer()
finally:
    with open(os.environ["FAKE_AWS_LOG"], "a") as log:
        log.write(json.dumps(record) + "\n")
if output is not None:
    print(output)
"""


class FakeAws:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        executable = self.bin / "aws"
        executable.write_text(f"#!{sys.executable}\n{FAKE_AWS}")
        executable.chmod(0o755)
        self.log = root / "aws-calls.jsonl"
        self.state_file = root / "aws-state.json"
        self.state: dict[str, Any] = {
            "account": ACCOUNT,
            "ami": AMI,
            "stack_exists": False,
            "outputs": {"WarehouseInstanceId": INSTANCE},
        }

    def save(self) -> None:
        self.state_file.write_text(json.dumps(self.state))

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[list[str]]:
        return [call["argv"][:2] for call in self.calls()]

    def call(self, *command: str) -> dict[str, Any]:
        matches = [c for c in self.calls() if c["argv"][: len(command)] == list(command)]
        assert len(matches) == 1, f"{command}: {len(matches)} calls"
        return matches[0]


@pytest.fixture
def fake_aws(tmp_path: Path) -> FakeAws:
    return FakeAws(tmp_path)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The scripts and template in a scratch copy of the repository, with stand-in packages
    in its build/ (the real ones take a minute to build and are tested elsewhere)."""
    root = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "infra", root / "infra")
    for relative in ("build/lambda/ingest.zip", "build/lambda/etl.zip"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"zip")
    (root / "build/host").mkdir(parents=True)
    (root / "build/host/clickstream-bundle.tar.gz").write_bytes(b"tar")
    return root


def run_script(
    checkout: Path, fake: FakeAws, script: str, extra_env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    fake.save()
    environment = {
        **{k: v for k, v in os.environ.items() if k.startswith(("AWS_", "PG"))},
        "PATH": f"{fake.bin}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(checkout),
        "FAKE_AWS_LOG": str(fake.log),
        "FAKE_AWS_STATE": str(fake.state_file),
        "PYTHON": sys.executable,
        "STACK_NAME": "clickstream",
        **extra_env,
    }
    return subprocess.run(
        ["bash", str(checkout / "infra" / "scripts" / script)],
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def parameter_overrides(fake: FakeAws) -> dict[str, str]:
    argv = fake.call("cloudformation", "deploy")["argv"]
    values = argv[argv.index("--parameter-overrides") + 1 :]
    return dict(value.split("=", 1) for value in values)


# --------------------------------------------------------------------------- deploy


def test_first_deploy_pins_the_latest_ami_and_creates_the_artifacts_bucket(
    services: dict[str, str], checkout: Path, fake_aws: FakeAws
) -> None:
    result = run_script(checkout, fake_aws, "deploy.sh", {"ALARM_EMAIL": "ops@example.com"})
    assert result.returncode == 0, result.stderr
    artifacts = f"clickstream-artifacts-{ACCOUNT}-us-east-1"
    assert fake_aws.call("s3api", "create-bucket")["argv"][3] == artifacts
    assert "BlockPublicAcls=true" in " ".join(
        fake_aws.call("s3api", "put-public-access-block")["argv"]
    )
    assert parameter_overrides(fake_aws) == {
        "ArtifactsBucket": artifacts,
        "BundleKey": "clickstream/host/clickstream-bundle.tar.gz",
        "WarehouseAmiId": AMI,
        "AlarmEmail": "ops@example.com",
    }
    deploy = fake_aws.call("cloudformation", "deploy")["argv"]
    assert deploy[deploy.index("--capabilities") + 1] == "CAPABILITY_IAM"
    upload = fake_aws.call("s3", "cp")["argv"]
    assert upload[-1] == f"s3://{artifacts}/clickstream/host/clickstream-bundle.tar.gz"
    # A new host bootstraps itself from its user data: no Run Command.
    assert ["ssm", "send-command"] not in fake_aws.commands()
    commands = fake_aws.commands()
    assert commands.index(["s3", "cp"]) < commands.index(["cloudformation", "deploy"])


def test_updating_keeps_the_ami_and_upgrades_the_running_host(
    services: dict[str, str], checkout: Path, fake_aws: FakeAws
) -> None:
    fake_aws.state["stack_exists"] = True
    result = run_script(
        checkout,
        fake_aws,
        "deploy.sh",
        {"CORS_ALLOW_ORIGINS": "https://a.example,https://b.example", "AWS_REGION": "us-east-1"},
    )
    assert result.returncode == 0, result.stderr
    overrides = parameter_overrides(fake_aws)
    assert "WarehouseAmiId" not in overrides  # a new AMI would replace the instance
    assert ["ssm", "get-parameter"] not in fake_aws.commands()
    assert overrides["CorsAllowOrigins"] == "https://a.example,https://b.example"
    commands = fake_aws.commands()
    assert commands.index(["cloudformation", "deploy"]) < commands.index(["ssm", "send-command"])
    send = fake_aws.call("ssm", "send-command")["argv"]
    assert send[send.index("--instance-ids") + 1] == INSTANCE
    parameters = json.loads(send[send.index("--parameters") + 1])
    assert (
        parameters["commands"][-1] == "bash /opt/clickstream/incoming/app/infra/host/bootstrap.sh"
    )


def test_deploy_refuses_without_packages(
    services: dict[str, str], checkout: Path, fake_aws: FakeAws
) -> None:
    (checkout / "build/lambda/etl.zip").unlink()
    result = run_script(checkout, fake_aws, "deploy.sh", {})
    assert result.returncode == 1
    assert result.stderr.strip() == "missing build/lambda/etl.zip: run make package first"
    assert ["cloudformation", "deploy"] not in fake_aws.commands()


# --------------------------------------------------------------------------- destroy


@pytest.fixture
def versioned_raw_bucket(services: dict[str, str]) -> Iterator[str]:
    """Not the raw_bucket fixture: destroy deletes the bucket itself."""
    name = unique_name("destroy").replace("_", "-")
    client = s3_client()
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1\n", b"2\n"):
        client.put_object(Bucket=name, Key="events/2026/11/22/02/events-a.json", Body=body)
    client.delete_object(Bucket=name, Key="events/2026/11/22/02/events-a.json")
    yield name
    if name in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        versions = client.list_object_versions(Bucket=name)
        for entry in [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])]:
            client.delete_object(Bucket=name, Key=entry["Key"], VersionId=entry["VersionId"])
        client.delete_bucket(Bucket=name)


def test_destroy_empties_every_version_then_deletes_the_stack(
    checkout: Path, fake_aws: FakeAws, versioned_raw_bucket: str
) -> None:
    fake_aws.state["stack_exists"] = True
    fake_aws.state["outputs"]["RawBucketName"] = versioned_raw_bucket
    result = run_script(checkout, fake_aws, "destroy.sh", {"CONFIRM": "yes"})
    assert result.returncode == 0, result.stderr
    assert "deleted 3 object versions and delete markers" in result.stdout
    assert fake_aws.call("s3api", "delete-bucket")["versions_left"] == 0
    assert fake_aws.call("cloudformation", "delete-stack")["raw_bucket_exists"] is False
    buckets = [b["Name"] for b in s3_client().list_buckets()["Buckets"]]
    assert versioned_raw_bucket not in buckets
    commands = fake_aws.commands()
    assert commands.index(["s3api", "delete-bucket"]) < commands.index(
        ["cloudformation", "delete-stack"]
    )


def test_destroy_asks_first(checkout: Path, fake_aws: FakeAws, versioned_raw_bucket: str) -> None:
    fake_aws.state["stack_exists"] = True
    fake_aws.state["outputs"]["RawBucketName"] = versioned_raw_bucket
    result = run_script(checkout, fake_aws, "destroy.sh", {}, stdin="n\n")
    assert result.returncode == 1
    assert "cancelled" in result.stdout
    assert ["cloudformation", "delete-stack"] not in fake_aws.commands()
    listing = s3_client().list_object_versions(Bucket=versioned_raw_bucket)
    assert len(listing["Versions"]) == 2
