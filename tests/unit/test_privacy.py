"""Whose lines an erasure removes (docs/privacy.md, "Whose lines"), and its argument errors."""

from __future__ import annotations

import json

import pytest

from clickstream.errors import TerminalError
from clickstream.privacy import Person, erase, main

BY_USER = Person("u-1", frozenset({"c-laptop"}))
BY_CLIENT = Person(None, frozenset({"c-laptop"}))


def _line(**fields: object) -> bytes:
    return json.dumps({"event_id": "e", **fields}).encode()


@pytest.mark.parametrize(
    ("line", "by_user", "by_client"),
    [
        (_line(user_id="u-1", client_id="c-other"), True, False),
        (_line(user_id=None, client_id="c-laptop"), True, True),  # a guest event of theirs
        (_line(client_id="c-laptop"), True, True),
        (_line(user_id="u-2", client_id="c-laptop"), False, True),  # someone else logged in
        (_line(user_id="u-2", client_id="c-other"), False, False),
        (_line(user_id=["u-1"], client_id={"c": 1}), False, False),  # wrong types: not theirs
        (b'{"event_id": "x", "user_id": "u-1"', True, False),  # not JSON: the id as text
        (b'{"broken": "c-laptop', True, True),
        (b"[1, 2]", False, False),
        (b"   ", False, False),
    ],
)
def test_whose_lines(line: bytes, by_user: bool, by_client: bool) -> None:
    assert BY_USER.owns_line(line) is by_user
    assert BY_CLIENT.owns_line(line) is by_client


def test_exactly_one_id_is_needed() -> None:
    with pytest.raises(TerminalError, match="exactly one"):
        erase()
    with pytest.raises(TerminalError, match="exactly one"):
        erase(user_id="u", client_id="c")
    with pytest.raises(TerminalError, match="at most 128"):
        erase(user_id="x" * 129)
    with pytest.raises(TerminalError, match="non-blank"):
        erase(client_id="  ")


def test_the_command_refuses_both_ids(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["erase", "--user-id", "u", "--client-id", "c"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
