"""The runtime core (clickstream/) imports nothing else from the project: the Lambdas and the
warehouse host ship it, so it must not pull in the loader, a handler, the dashboard or a
developer tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.import_graph import (
    REPO_ROOT,
    import_closure,
    imported_names,
    module_name,
    only_project_modules,
    project_imports,
)

CORE = REPO_ROOT / "clickstream"
CORE_MODULES = sorted(CORE.glob("*.py"))


def test_the_core_has_modules_to_check() -> None:
    names = {module_name(file) for file in CORE_MODULES}
    assert {"clickstream", "clickstream.contract", "clickstream.warehouse"} <= names


@pytest.mark.parametrize("file", CORE_MODULES, ids=lambda file: file.name)
def test_a_core_module_imports_only_the_core(file: Path) -> None:
    # Typing-only imports count too: mypy would follow them into the rest of the project.
    above = {
        name
        for name in project_imports(file, runtime_only=False)
        if name.split(".")[0] != "clickstream"
    }
    assert not above, f"{file.relative_to(REPO_ROOT)} imports {sorted(above)}"


SOURCE_WITH_EVERY_KIND_OF_IMPORT = """
from typing import TYPE_CHECKING

import json
from extract_load.loader import load_new_objects
from . import errors

if TYPE_CHECKING:
    from dashboard.queries import Filters
else:
    import lambdas.etl


def later() -> None:
    from devtools import demo
"""


def test_the_checker_sees_every_kind_of_import() -> None:
    """What the tests above rely on: imports inside functions, relative ones and `from a
    import b` of a submodule are found; typing-only ones only when asked for."""
    names = imported_names(SOURCE_WITH_EVERY_KIND_OF_IMPORT, "clickstream", runtime_only=False)
    assert only_project_modules(names) == {
        "extract_load.loader",
        "clickstream",
        "clickstream.errors",
        "dashboard.queries",
        "lambdas.etl",
        "devtools",
        "devtools.demo",
    }
    runtime = imported_names(SOURCE_WITH_EVERY_KIND_OF_IMPORT, "clickstream")
    assert "dashboard.queries" not in only_project_modules(runtime)
    assert "lambdas.etl" in only_project_modules(runtime)


def test_the_closure_follows_imports_into_functions_and_packages() -> None:
    closure = import_closure(["lambdas.ingest.handler"])
    assert "clickstream.storage" in closure  # imported inside a function
    assert {"clickstream", "lambdas", "lambdas.ingest"} <= closure  # parent packages
    assert "lambdas.ingest.local" not in closure  # a sibling the handler never imports
