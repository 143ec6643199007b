"""Guards for what users feed the app: bounded parsing, one-line messages, file kinds.

Everything read from a file or a command line goes through these before it
is trusted: documents nested without end or holding numbers of thousands of
digits become one clear error instead of a RecursionError, and user strings
echoed in a message cannot forge a second line.
"""

from __future__ import annotations

import json
import reprlib
import stat
import tomllib
from pathlib import Path
from typing import Any

MAX_DEPTH = 32  # configs and view states are a few levels deep; anything deeper is refused
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)} | {
    0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
_CONTROL.update({c: f"\\u{c:04x}" for c in (0x85, 0x2028, 0x2029)})

_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlong = 40
_repr.maxlist = _repr.maxtuple = _repr.maxdict = 8


class DocumentError(ValueError):
    """A JSON or TOML document that cannot be read; the message says why, in one line."""


def one_line(text: str) -> str:
    """``text`` with control characters escaped, so it prints as exactly one line."""
    return text.translate(_CONTROL)


def shown(value: Any) -> str:
    """A short, one-line ``repr`` of a user's value, however long or deep it is."""
    try:
        return one_line(_repr.repr(value))
    except (RecursionError, ValueError):  # ValueError: an int beyond Python's digit limit
        return f"<{type(value).__name__}>"


def parse_json(text: str) -> Any:
    """``json.loads`` whose every failure is a `DocumentError`, nesting included."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise DocumentError("not valid JSON: nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise DocumentError(f"not valid JSON: {one_line(str(exc))}") from None
    except ValueError as exc:  # an integer beyond Python's digit limit
        raise DocumentError(f"not valid JSON: {_number_problem(exc)}") from None
    check_depth(data)
    return data


def parse_toml(text: str) -> Any:
    """``tomllib.loads`` whose every failure is a `DocumentError`, nesting included."""
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise DocumentError("not valid TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        raise DocumentError(f"not valid TOML: {one_line(str(exc))}") from None
    except ValueError as exc:
        raise DocumentError(f"not valid TOML: {_number_problem(exc)}") from None
    check_depth(data)
    return data


def _number_problem(exc: ValueError) -> str:
    if "digits" in str(exc):
        return "a number has more than 4300 digits"
    return one_line(str(exc))


def check_depth(data: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse lists and tables nested more than ``limit`` levels (checked without recursion)."""
    pending = [(data, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                raise DocumentError(f"nested more than {limit} levels deep")
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a user's file, or None when it is a regular file.

    Checked before opening: opening a FIFO would wait for a writer forever.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot read ({one_line(exc.strerror or str(exc))})"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a pipe, socket or device)"
    return None


def parse_step_list(text: str, maximum: int) -> list[int]:
    """"0,1,5" → [0, 1, 5] (sorted, once each, 0 … ``maximum``); ValueError saying why not."""
    try:
        steps = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"--steps expects comma-separated integers, got {shown(text)}") from None
    if not steps or steps[0] < 0 or steps[-1] > maximum:
        raise ValueError(f"--steps must list step counts between 0 and {maximum}")
    return steps
