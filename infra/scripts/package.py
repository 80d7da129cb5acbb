"""Build what `make deploy` uploads: the two Lambda zips and the warehouse host's bundle.

    python infra/scripts/package.py lambdas|bundle|all [--out build]

- `build/lambda/ingest.zip`: the ingest handler and the runtime core modules it imports
  (stdlib and boto3 only).
- `build/lambda/etl.zip`: the ETL handler, the core modules and extract_load/ modules it
  imports, and psycopg2, unpacked from the Lambda-compatible manylinux2014 x86_64 CPython
  3.11 `psycopg2-binary` wheel, at the version installed here (the one the tests run). boto3
  is not bundled: the python3.11 runtime provides it.

Each zip holds an explicit list of modules, exactly what its handler imports (a test
computes the imports and compares), so a developer tool can never ride along.
- `build/host/clickstream-bundle.tar.gz`: `app/` (dbt project, profiles, dashboard, host
  scripts) and `wheelhouse/` (the project's wheel and every dependency's wheel for Amazon
  Linux 2023, x86_64, CPython 3.11), because the host's private subnet has no PyPI.

Zips are reproducible (sorted entries, fixed timestamps), so `aws cloudformation package`
uploads, and CloudFormation updates, a function only when its code changed. Downloaded
wheels are cached under `build/cache/`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON_VERSION = "3.11"
# Lambda's python3.11 runtime is Amazon Linux 2 (glibc 2.26): manylinux2014 (glibc 2.17)
# wheels run there. Amazon Linux 2023 (glibc 2.34) also takes the newer manylinux tags.
LAMBDA_PLATFORMS = ("manylinux2014_x86_64",)
HOST_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
# Dependencies of the embedded local default only: never on the AWS host.
LOCAL_ONLY_DEPENDENCIES = ("pgserver", "moto")
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
SKIPPED_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache", "target", "logs"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


class PackagingError(Exception):
    """Something needed for a package is missing; the message says what."""


@dataclass(frozen=True)
class LambdaPackage:
    """One Lambda's zip: `modules` are the project modules it ships (dotted names, a package
    name stands for its `__init__.py`), `data_files` the other project files they read."""

    name: str
    handler_module: str
    modules: tuple[str, ...]
    data_files: tuple[str, ...] = ()
    wheels: tuple[str, ...] = ()

    @property
    def handler_file(self) -> str:
        return module_path(self.handler_module)


def lambda_packages() -> tuple[LambdaPackage, ...]:
    return (
        LambdaPackage(
            name="ingest",
            handler_module="lambdas.ingest.handler",
            modules=(
                "clickstream",
                "clickstream.config",
                "clickstream.contract",
                "clickstream.errors",
                "clickstream.raw_layout",
                "clickstream.storage",
                "lambdas",
                "lambdas.ingest",
                "lambdas.ingest.handler",
            ),
        ),
        LambdaPackage(
            name="etl",
            handler_module="lambdas.etl.handler",
            modules=(
                "clickstream",
                "clickstream.config",
                "clickstream.errors",
                "clickstream.progress",
                "clickstream.raw_layout",
                "clickstream.raw_removal",
                "clickstream.storage",
                "clickstream.warehouse",
                "extract_load",
                "extract_load.lines",
                "extract_load.listing",
                "extract_load.loader",
                "extract_load.partitions",
                "extract_load.schema",
                "extract_load.user_agents",
                "lambdas",
                "lambdas.etl",
                "lambdas.etl.handler",
            ),
            data_files=("extract_load/schema.sql",),
            wheels=tuple(
                f"{name}=={version(name)}"
                for name in ("psycopg2-binary", "ua-parser", "ua-parser-builtins", "crawlerdetect")
            ),
        ),
    )


# --------------------------------------------------------------------------- files


def module_path(module: str) -> str:
    """The file of a project module, relative to the repository: `a.b` is a/b.py, or
    a/b/__init__.py when a.b is a package."""
    relative = module.replace(".", "/")
    if (REPO_ROOT / relative).is_dir():
        return f"{relative}/__init__.py"
    return f"{relative}.py"


def project_files(relative: str) -> Iterator[tuple[Path, str]]:
    """(path on disk, name in the archive) for a file or every file under a folder."""
    path = REPO_ROOT / relative
    if path.is_file():
        yield path, relative
        return
    if not path.is_dir():
        return
    for file in sorted(path.rglob("*")):
        parts = set(file.relative_to(REPO_ROOT).parts)
        if file.is_file() and not parts & SKIPPED_PARTS and file.suffix not in SKIPPED_SUFFIXES:
            yield file, file.relative_to(REPO_ROOT).as_posix()


def write_reproducible_zip(target: Path, entries: Iterable[tuple[Path, str]]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path, name in sorted(entries, key=lambda entry: entry[1]):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            executable = path.stat().st_mode & 0o111
            info.external_attr = (0o755 if executable else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    temporary.replace(target)


# --------------------------------------------------------------------------- wheels


def pip_download(requirements: list[str], dest: Path, platforms: Iterable[str]) -> None:
    """Binary wheels for the target platform (never an sdist that would build for this one)."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--dest",
        str(dest),
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
    ]
    for platform in platforms:
        command += ["--platform", platform]
    result = subprocess.run([*command, *requirements], check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise PackagingError(f"pip download {' '.join(requirements)} failed:\n{result.stderr}")


def _lambda_wheels(cache: Path, stem: str, wanted: str) -> list[Path]:
    """The cached wheels of `stem` at `wanted` that run on Lambda: built for manylinux2014
    x86_64, or pure Python (`none-any`)."""
    return sorted(
        wheel
        for pattern in ("*manylinux2014_x86_64*", "*-none-any")
        for wheel in cache.glob(f"{stem}-{wanted}-{pattern}.whl")
    )


def cached_wheel(requirement: str, cache: Path) -> Path:
    """The Lambda-platform wheel for `name==version`, downloaded once into `cache`."""
    name, _, wanted = requirement.partition("==")
    stem = name.replace("-", "_")
    matches = _lambda_wheels(cache, stem, wanted)
    if not matches:
        pip_download([requirement, "--no-deps"], cache, LAMBDA_PLATFORMS)
        matches = _lambda_wheels(cache, stem, wanted)
    if not matches:
        raise PackagingError(f"no manylinux2014 x86_64 wheel of {requirement} in {cache}")
    return matches[-1]


def wheel_entries(wheel: Path, unpack_dir: Path) -> list[tuple[Path, str]]:
    with zipfile.ZipFile(wheel) as archive:
        unsafe = [name for name in archive.namelist() if name.startswith("/") or ".." in name]
        if unsafe:
            raise PackagingError(f"{wheel.name} has unsafe paths, e.g. {unsafe[0]}")
        archive.extractall(unpack_dir)  # noqa: S202 - every name was checked just above
    return [
        (file, file.relative_to(unpack_dir).as_posix())
        for file in sorted(unpack_dir.rglob("*"))
        if file.is_file()
    ]


# --------------------------------------------------------------------------- Lambdas


def build_lambda(package: LambdaPackage, out: Path, cache: Path) -> Path:
    handler = REPO_ROOT / package.handler_file
    if not handler.is_file():
        raise PackagingError(f"{package.handler_file} does not exist yet: nothing to package")
    files = [module_path(module) for module in package.modules] + list(package.data_files)
    missing = [file for file in files if not (REPO_ROOT / file).is_file()]
    if missing:
        raise PackagingError(f"{package.name}: listed files do not exist: {', '.join(missing)}")
    entries = [(REPO_ROOT / file, file) for file in files]
    target = out / "lambda" / f"{package.name}.zip"
    with tempfile.TemporaryDirectory() as unpack_root:
        for requirement in package.wheels:
            wheel = cached_wheel(requirement, cache)
            entries += wheel_entries(wheel, Path(unpack_root) / wheel.stem)
        write_reproducible_zip(target, entries)
    return target


def build_lambdas(out: Path, cache: Path, only: str | None = None) -> list[Path]:
    return [
        build_lambda(package, out, cache / "wheels")
        for package in lambda_packages()
        if only in (None, package.name)
    ]


# --------------------------------------------------------------------------- host bundle

# devtools/ is left out on purpose: the host runs the dashboard and dbt, never a dev tool.
PROJECT_PACKAGES = ("clickstream", "extract_load", "lambdas", "dashboard")
BUNDLE_APP_SOURCES = (
    "pyproject.toml",
    "dbt_project",
    "profiles",
    "dashboard",
    "infra/host",
)


def host_requirements() -> list[str]:
    """The project's dependencies without the local-only ones (read from pyproject.toml)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return [
        requirement
        for requirement in project["dependencies"]
        if not requirement.lower().startswith(LOCAL_ONLY_DEPENDENCIES)
    ]


# What the project's wheel is built from (pyproject.toml's packages and its readme).
WHEEL_SOURCES = ("pyproject.toml", "README.md", "MANIFEST.in", *PROJECT_PACKAGES)


def build_project_wheel(wheelhouse: Path) -> None:
    """The project's wheel, built from a clean copy: setuptools' in-tree build/lib would
    otherwise keep files deleted since the last build, and mix with our own build/."""
    with tempfile.TemporaryDirectory() as source:
        for relative in WHEEL_SOURCES:
            for path, name in project_files(relative):
                destination = Path(source) / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)
        pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
        build = subprocess.run(
            [*pip_wheel, "--wheel-dir", str(wheelhouse), source],
            check=False,
            capture_output=True,
            text=True,
        )
    if build.returncode != 0:
        raise PackagingError(f"building the project's wheel failed:\n{build.stderr}")


def build_bundle(out: Path) -> Path:
    staging = out / "host" / "bundle"
    shutil.rmtree(staging, ignore_errors=True)
    wheelhouse = staging / "wheelhouse"
    requirements = host_requirements()
    pip_download(requirements, wheelhouse, HOST_PLATFORMS)
    (wheelhouse / "requirements.txt").write_text("\n".join(requirements) + "\n")
    build_project_wheel(wheelhouse)
    for source in BUNDLE_APP_SOURCES:
        for path, name in project_files(source):
            destination = staging / "app" / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
    dbt_packages = REPO_ROOT / "dbt_project" / "dbt_packages"
    if dbt_packages.is_dir():  # `dbt deps` needs the internet: ship the installed packages
        shutil.copytree(dbt_packages, staging / "app" / "dbt_project" / "dbt_packages")
    target = out / "host" / "clickstream-bundle.tar.gz"
    with tarfile.open(target, "w:gz") as archive:
        for part in ("app", "wheelhouse"):
            archive.add(staging / part, arcname=part)
    shutil.rmtree(staging)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("lambdas", "bundle", "all"))
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build")
    parser.add_argument("--cache", type=Path, help="downloaded wheels [OUT/cache]")
    parser.add_argument("--only", choices=[p.name for p in lambda_packages()], help="one Lambda")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    try:
        built = []
        if args.what in ("lambdas", "all"):
            built += build_lambdas(out, (args.cache or out / "cache").resolve(), args.only)
        if args.what in ("bundle", "all"):
            built.append(build_bundle(out))
    except PackagingError as error:
        print(f"package: {error}", file=sys.stderr)
        return 1
    for path in built:
        shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
        print(f"built {shown} ({path.stat().st_size / 1024:,.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
