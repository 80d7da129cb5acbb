"""`python -m dashboard [--host H] [--port P]`: serve the dashboards (make dashboard)."""

from __future__ import annotations

import argparse

import uvicorn

from clickstream.warehouse import describe_target

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3838


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__)
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    args = parser.parse_args(argv)
    print(
        f"Dashboard on http://{args.host}:{args.port}/ reading {describe_target()}"
        " (Ctrl+C to stop)",
        flush=True,
    )
    uvicorn.run("dashboard.app:app", host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
