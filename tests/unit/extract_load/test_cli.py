"""`extract_load load --replay` needs both bounds: it says so before touching anything."""

from __future__ import annotations

import pytest

from extract_load.cli import main


@pytest.mark.parametrize(
    "arguments",
    [["--replay"], ["--replay", "--since", "2026-03-01"], ["--replay", "--until", "2026-03-01"]],
)
def test_a_replay_needs_since_and_until(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["load", *arguments]) == 2
    assert capsys.readouterr().err == "error: --replay needs --since and --until\n"


def test_a_replay_on_spark_is_refused_before_touching_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    arguments = ["--engine", "spark", "--replay", "--since", "2026-03-01", "--until", "2026-03-02"]
    assert main(["load", *arguments]) == 2
    assert capsys.readouterr().err == "error: --replay is not available with --engine spark\n"
