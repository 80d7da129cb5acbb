"""Progress bars for the console tools (the loader's CLI, the demo): tqdm on stderr.

Callers show one only when stderr is a terminal; piped or redirected, they print their plain
result lines and nothing else. Imported lazily: the Lambdas never load tqdm.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# A terminal that reports a size of 0 x 0 (a pseudo-terminal nobody sized: `script`, some
# `docker exec -t`) makes tqdm draw nothing at all; such a terminal gets this size.
FALLBACK_COLUMNS = 80
FALLBACK_LINES = 24


def progress_bar(description: str, unit: str, total: int | None = None) -> Any:
    """A bar that is erased when closed (the caller prints the result on its own line)."""
    from tqdm import tqdm

    try:
        sized = min(os.get_terminal_size(sys.stderr.fileno())) > 0
    except (OSError, ValueError):
        sized = False
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        leave=False,
        dynamic_ncols=sized,
        ncols=None if sized else FALLBACK_COLUMNS,
        nrows=None if sized else FALLBACK_LINES,
    )
