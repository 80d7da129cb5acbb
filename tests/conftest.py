"""Shared fixtures. Tests run against a real PostgreSQL and a real S3 API on loopback: the
embedded default unless PGHOST / AWS_ENDPOINT_URL name others. Each test that writes gets
its own database and bucket, so tests never see each other's data or the demo's."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.services import ensure_up
from tests.support import temporary_bucket, temporary_database

FIXTURES = Path(__file__).parent / "fixtures"
REES46_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "rees46"

# Tests must never reach a real AWS account through a developer's credentials.
_AWS_CREDENTIAL_VARIABLES = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


# dbt's unit tests run a model's SQL on fixed rows: their result depends on the code only, so
# they run once per suite (test_dbt_unit_tests.py on PostgreSQL, the Spark equality test's
# first build on Spark), not in each of the suite's sixty-odd builds, where they were a
# quarter of the work. The variable is dbt's own --exclude-resource-type, and every dbt of
# the session reads it, in this process or a child (the demo's, the hourly run's).
os.environ["DBT_EXCLUDE_RESOURCE_TYPES"] = "unit_test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Spark tests first. `make test` hands whole files to its workers in collection order
    (Makefile): the equality test is the longest file by far (two Spark builds, about 12
    minutes), so it starts at once beside everything else instead of running alone at the end.
    A stable sort: every other test keeps its place."""
    items.sort(key=lambda item: item.get_closest_marker("spark") is None)


@pytest.fixture(scope="session")
def services() -> dict[str, str]:
    """Start (or reuse) the local services and export their variables to this process."""
    environ = dict(os.environ)
    if not environ.get("AWS_ENDPOINT_URL"):
        for name in _AWS_CREDENTIAL_VARIABLES:
            environ.pop(name, None)
            os.environ.pop(name, None)
        environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull + "/none"
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = environ["AWS_SHARED_CREDENTIALS_FILE"]
    added = ensure_up(environ)
    os.environ.update(added)
    return added


@pytest.fixture
def warehouse_db(services: dict[str, str]) -> Iterator[str]:
    """A fresh empty database for one test (PGDATABASE points at it)."""
    with temporary_database() as name:
        yield name


@pytest.fixture(scope="module")
def module_warehouse_db(services: dict[str, str]) -> Iterator[str]:
    """A fresh database shared by one module's tests (for expensive builds)."""
    with temporary_database() as name:
        yield name


@pytest.fixture
def raw_bucket(services: dict[str, str]) -> Iterator[str]:
    """A fresh empty bucket for one test (RAW_BUCKET points at it)."""
    with temporary_bucket() as name:
        yield name


@pytest.fixture(scope="module")
def module_raw_bucket(services: dict[str, str]) -> Iterator[str]:
    with temporary_bucket() as name:
        yield name


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())
