"""Writes one benchmark's section of docs/benchmarks.md, keeping the other sections."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

from clickstream.config import PROJECT_ROOT

REPORT = PROJECT_ROOT / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Written by `make bench` (one section per benchmark; `make bench BENCH_ARGS=loader` runs one).
Each section says when and on what machine it was measured. Targets come from the issues.
"""


def machine_description() -> str:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    python = platform.python_version()
    return f"{os.cpu_count()} cores ({cpu}), {memory_gib:.0f} GiB RAM, Python {python}"


def write_section(name: str, title: str, body: str, path: Path = REPORT) -> None:
    """Replace (or append) the section between `<!-- bench:name -->` markers."""
    stamp = f"_Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine_description()}._"
    section = (
        f"<!-- bench:{name} -->\n## {title}\n\n{stamp}\n\n{body.strip()}\n<!-- /bench:{name} -->"
    )
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S
    )
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{section}\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
