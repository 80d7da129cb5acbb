from __future__ import annotations

import io

import pytest

from extract_load.lines import (
    MAX_LINE_BYTES,
    RAW_LINE_KEEP_BYTES,
    Line,
    fast_row,
    fast_row_prefix,
    iter_lines,
    quick_reason,
    raw_text,
    reject_reason,
)


class TrickleStream(io.RawIOBase):
    """Returns at most `step` bytes a read, so lines straddle every kind of boundary."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._at = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        piece = self._data[self._at : self._at + min(self._step, size if size > 0 else 1 << 30)]
        self._at += len(piece)
        return piece


@pytest.mark.parametrize("step", [1, 3, 7, 1 << 20])
def test_lines_are_numbered_across_read_boundaries(step: int) -> None:
    data = b'{"a":1}\n\n  \n{"b":2}\r\n{"c":3}'
    lines = list(iter_lines(TrickleStream(data, step)))  # type: ignore[arg-type]
    assert [(line.number, line.data) for line in lines] == [
        (1, b'{"a":1}'),
        (2, b""),
        (3, b"  "),
        (4, b'{"b":2}\r'),
        (5, b'{"c":3}'),  # the last line has no newline: still a line
    ]


def test_a_trailing_newline_is_not_an_extra_line() -> None:
    assert [line.number for line in iter_lines(io.BytesIO(b"{}\n{}\n"))] == [1, 2]


@pytest.mark.parametrize("step", [1000, 1 << 20])
def test_an_oversize_line_keeps_its_length_and_a_bounded_head(step: int) -> None:
    huge = b'{"x":"' + b"y" * (MAX_LINE_BYTES + 10) + b'"}'
    data = b'{"a":1}\n' + huge + b'\n{"b":2}\n'
    lines = list(iter_lines(TrickleStream(data, step)))  # type: ignore[arg-type]
    assert [line.number for line in lines] == [1, 2, 3]
    assert lines[1].oversize
    assert lines[1].length == len(huge)
    assert lines[1].data == huge[:RAW_LINE_KEEP_BYTES]
    assert quick_reason(lines[1]) == (
        f"line longer than {MAX_LINE_BYTES} bytes ({len(huge)} bytes)"
    )
    assert lines[2].data == b'{"b":2}'


def test_a_line_of_exactly_the_limit_is_accepted() -> None:
    exact = b'{"x":"' + b"y" * (MAX_LINE_BYTES - 8) + b'"}'
    assert len(exact) == MAX_LINE_BYTES
    (line,) = iter_lines(io.BytesIO(exact + b"\n"))
    assert not line.oversize
    assert quick_reason(line) is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a":1', "invalid JSON: Expecting ',' delimiter"),
        (b'{"a":"\xff"}', "invalid UTF-8: 'utf-8' codec can't decode byte 0xff"),
        (b'{"a":"x\\u0000y"}', "\\u0000 escape: PostgreSQL jsonb cannot store the NUL"),
        (b'{"\\u0000":1}', "\\u0000 escape"),
        (b"[1,2]", "not a JSON object (a JSON array)"),
        (b"42", "not a JSON object (a JSON number)"),
        (b'"text"', "not a JSON object (a JSON string)"),
        (b"null", "not a JSON object (a JSON null)"),
        (b'{"a":NaN}', "invalid JSON: NaN is not JSON"),
        (b'{"a":"\x01"}', "invalid JSON: Invalid control character"),
        (b"{} {}", "invalid JSON: Extra data"),
    ],
)
def test_python_knows_why_a_line_is_bad(data: bytes, reason: str) -> None:
    found = reject_reason(data)
    assert found is not None
    assert found.startswith(reason)


@pytest.mark.parametrize(
    "data", [b'{"a":1}', b'  {"a":"\\\\u0000"}', b'{"a":1e400}', b'{"n":"\xc3\xa9"}\r']
)
def test_python_lets_good_lines_through(data: bytes) -> None:
    assert reject_reason(data) is None


def test_quick_reason_only_parses_what_cannot_be_an_object() -> None:
    def line(data: bytes) -> Line:
        return Line(1, data, len(data))

    assert quick_reason(line(b'{"a":1')) is None  # left to PostgreSQL: no parse on the hot path
    assert quick_reason(line(b'  {"a":1}')) is None
    assert quick_reason(line(b"[1]")) == "not a JSON object (a JSON array)"
    assert quick_reason(line(b"oops")) == "invalid JSON: Expecting value: line 1 column 1 (char 0)"
    reason = quick_reason(line(b'{"a":"\x01"}'))
    assert reason is not None
    assert reason.startswith("invalid JSON: Invalid control character")


def test_fast_rows_quote_the_json_with_a_control_character() -> None:
    prefix = fast_row_prefix("events/a\x01b.json", "load-1")
    row = fast_row(prefix, Line(12, b'{"a":"b,c"}', 11))
    assert row == b'\x01events/a\x01\x01b.json\x01\x02load-1\x0212\x02\x01{"a":"b,c"}\x01\n'


def test_raw_text_is_bounded_and_printable() -> None:
    assert raw_text(b"a\x00b\xffc") == "a\\x00b\\xffc"
    assert len(raw_text(b"x" * 10_000)) == RAW_LINE_KEEP_BYTES
