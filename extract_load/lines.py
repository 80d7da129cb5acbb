"""Raw lines: reading them from an object in bounded memory, the checks Python makes before
PostgreSQL sees them, and their encoding as COPY rows.

The happy path never parses JSON in Python: rows go to PostgreSQL in CSV format with
QUOTE e'\\x01' and DELIMITER e'\\x02', so a JSON line passes through byte for byte (valid JSON
never holds a raw control character). Only when PostgreSQL refuses an object does
`reject_reason` look at each of its lines."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

MAX_LINE_BYTES = 1_048_576  # a line longer than this is rejected (the ingest body limit)
RAW_LINE_KEEP_BYTES = 4096  # how much of a rejected line staging.rejected_events keeps
READ_CHUNK_BYTES = 1 << 20

# What a broken object raises while it is decompressed or read: it is unreadable, retrying
# cannot help. (Network errors are not here: they surface as BucketUnreachableError.)
UNREADABLE_ERRORS: tuple[type[BaseException], ...] = (
    gzip.BadGzipFile,
    EOFError,
    zlib.error,
)

_FAST_QUOTE = b"\x01"
_FAST_DELIMITER = b"\x02"
FAST_COPY_OPTIONS = "format csv, delimiter e'\\x02', quote e'\\x01'"
SAFE_COPY_OPTIONS = "format csv"
_NUL_ESCAPE = re.compile(rb"\\u0000", re.IGNORECASE)


@dataclass(frozen=True)
class Line:
    """One physical line of an object (1-based), without its newline. `length` is the real
    length: an oversize line keeps only its first bytes in `data`."""

    number: int
    data: bytes
    length: int

    @property
    def oversize(self) -> bool:
        return self.length > MAX_LINE_BYTES


def open_body(stream: IO[bytes], key: str) -> IO[bytes]:
    """The decompressed stream: `.json.gz` objects are gzip."""
    if key.endswith(".gz"):
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    return stream


def iter_lines(stream: IO[bytes]) -> Iterator[Line]:
    """Split a stream on b"\\n" reading at most READ_CHUNK_BYTES at a time. Memory stays
    bounded even for a line without end: past MAX_LINE_BYTES only its length is counted."""
    number = 0
    carry = b""
    carry_length = 0  # the real length of the current line when carry was cut short
    while True:
        chunk = stream.read(READ_CHUNK_BYTES)
        if not chunk:
            break
        pieces = chunk.split(b"\n")
        for piece in pieces[:-1]:
            number += 1
            if carry_length:  # an oversize line's end: its head is already kept
                yield _line(number, carry, carry_length + len(piece))
            else:
                data = carry + piece if carry else piece
                yield _line(number, data, len(data))
            carry, carry_length = b"", 0
        tail = pieces[-1]
        if carry_length:
            carry_length += len(tail)
        else:
            carry += tail
            if len(carry) > MAX_LINE_BYTES:
                carry_length = len(carry)
                carry = carry[:RAW_LINE_KEEP_BYTES]
    if carry or carry_length:  # the last line has no newline: still a line
        yield _line(number + 1, carry, carry_length or len(carry))


def _line(number: int, data: bytes, length: int) -> Line:
    """A line of `length` bytes starting with `data`: an oversize one keeps only its head."""
    return Line(number, data if length <= MAX_LINE_BYTES else data[:RAW_LINE_KEEP_BYTES], length)


def is_blank(data: bytes) -> bool:
    return not data or data.isspace()


def quick_reason(line: Line) -> str | None:
    """The checks cheap enough for every line of the happy path. None: let PostgreSQL judge.

    A line whose first non-blank byte is `{` is an object if it is JSON at all; anything else
    (an array, a number, garbage) or a raw \\x01 (the fast COPY's quote, never valid JSON) is
    judged here, in Python."""
    if line.oversize:
        return f"line longer than {MAX_LINE_BYTES} bytes ({line.length} bytes)"
    data = line.data
    if data[:1] != b"{" and data.lstrip()[:1] != b"{":
        return reject_reason(data) or "not a JSON object"
    if _FAST_QUOTE in data:
        return reject_reason(data) or "invalid JSON: raw control character"
    return None


def line_reason(line: Line) -> str | None:
    """Why a line is rejected, judged in Python alone: the careful path of the PostgreSQL
    loader and every line of the Spark loader (extract_load/spark_load.py). None: load it."""
    return quick_reason(line) or reject_reason(line.data)


def unreadable_reason(error: BaseException | None) -> str:
    """The reject reason of an object that could not be read (one row, line_number null)."""
    if error is None:
        described = "unknown error"
    else:
        described = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return f"unreadable object: {described}"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def reject_reason(data: bytes) -> str | None:
    """Why this line cannot become a jsonb object, as far as Python can tell; None when it
    looks fine (PostgreSQL may still refuse it: a number out of numeric's range, a lone
    surrogate escape, ...)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"invalid UTF-8: {error}"
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        return "invalid JSON: nested too deeply"
    except ValueError as error:
        return f"invalid JSON: {error}"
    if not isinstance(value, dict):
        return f"not a JSON object (a JSON {_json_type(value)})"
    if _NUL_ESCAPE.search(data) and _holds_nul(value):
        return "\\u0000 escape: PostgreSQL jsonb cannot store the NUL character"
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def raw_text(data: bytes) -> str:
    """A rejected line as text for staging.rejected_events: bounded, never failing (bad UTF-8
    shows as \\xNN, a NUL byte as \\x00, which PostgreSQL text cannot hold)."""
    text = data[:RAW_LINE_KEEP_BYTES].decode("utf-8", errors="backslashreplace")
    return text.replace("\x00", "\\x00")


# ------------------------------------------------------------------------ COPY rows


def fast_row_prefix(s3_key: str, load_id: str) -> bytes:
    """The start of every fast row of one object: quoted key, load id."""
    key = s3_key.encode("utf-8").replace(_FAST_QUOTE, _FAST_QUOTE * 2)
    return b"\x01" + key + b"\x01\x02" + load_id.encode("ascii") + b"\x02"


def fast_row(prefix: bytes, line: Line) -> bytes:
    """`prefix` + line number + the JSON line quoted by \\x01 (see quick_reason)."""
    return b"%s%d\x02\x01%s\x01\n" % (prefix, line.number, line.data)


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def safe_row(s3_key: str, load_id: str, line: Line) -> bytes:
    """The same row as fast_row in standard CSV, for the careful path (any key, any text)."""
    payload = line.data.decode("utf-8")
    return f"{_csv_field(s3_key)},{load_id},{line.number},{_csv_field(payload)}\n".encode()


def reject_row(
    s3_key: str, line_number: int | None, reason: str, raw: str | None, load_id: str
) -> bytes:
    """A staging.rejected_events row in standard CSV (an empty unquoted field is NULL)."""
    number = "" if line_number is None else str(line_number)
    raw_field = "" if raw is None else _csv_field(raw)
    return (f"{_csv_field(s3_key)},{number},{_csv_field(reason)},{raw_field},{load_id}\n").encode()
