"""`python -m extract_load load [--since YYYY-MM-DD[THH]] [--until ...]`, `status`, `prune`."""

from __future__ import annotations

from extract_load.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
