"""Which project modules a module imports, read from its source with `ast` (nothing is
executed): for the test that keeps the runtime core free of the rest of the project, and
the one that checks each Lambda zip holds exactly what its handler imports."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def module_file(module: str) -> Path | None:
    """The project file of a dotted module name, or None when it is not a project module
    (the standard library, a dependency, or a name imported from a module)."""
    path = REPO_ROOT.joinpath(*module.split("."))
    top_package = REPO_ROOT / module.split(".")[0] / "__init__.py"
    if not top_package.is_file():
        return None
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def module_name(file: Path) -> str:
    relative = file.resolve().relative_to(REPO_ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _ImportCollector(ast.NodeVisitor):
    """Every module name an import statement may load, at any depth (imports inside
    functions run too, later). `from a import b` may load the submodule a.b: both count."""

    def __init__(self, package: str, *, runtime_only: bool) -> None:
        self.package = package
        self.runtime_only = runtime_only
        self.names: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if self.runtime_only and _is_type_checking(node.test):
            for statement in node.orelse:  # the `if TYPE_CHECKING:` body never runs
                self.visit(statement)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:  # relative: from the module's own package upwards
            anchor = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            base = ".".join([*anchor, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        self.names.add(base)
        self.names.update(f"{base}.{alias.name}" for alias in node.names)


def imported_names(source: str, package: str, *, runtime_only: bool = True) -> set[str]:
    """The dotted names a module of `package` with this source imports; with
    `runtime_only`, not those under `if TYPE_CHECKING:`."""
    collector = _ImportCollector(package, runtime_only=runtime_only)
    collector.visit(ast.parse(source))
    return collector.names


def only_project_modules(names: Iterable[str]) -> set[str]:
    """The names that are project modules (those with a file in the repository)."""
    return {name for name in names if module_file(name) is not None}


def project_imports(file: Path, *, runtime_only: bool = True) -> set[str]:
    """The project modules the project file `file` imports."""
    name = module_name(file)
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    names = imported_names(file.read_text(), package, runtime_only=runtime_only)
    return only_project_modules(names)


def _with_parent_packages(module: str) -> Iterator[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def import_closure(roots: Iterable[str]) -> set[str]:
    """Every project module that importing `roots` can load, at import time or later in a
    function: the modules a package must ship for them to run."""
    seen: set[str] = set()
    pending = [parent for root in roots for parent in _with_parent_packages(root)]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        file = module_file(module)
        if file is None:
            raise ValueError(f"{module} is not a project module")
        seen.add(module)
        for imported in project_imports(file):
            pending.extend(_with_parent_packages(imported))
    return seen
