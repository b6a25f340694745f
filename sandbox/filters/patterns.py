"""SQL LIKE and PostgreSQL regular expressions (ARE), translated to Python's `re`.

Filters with `like`, `ilike`, `match` and `imatch` are evaluated in Python, so their patterns
must mean here what they mean to PostgreSQL. The translation is kept apart from the evaluator
because it is pure text-to-regex work with its own corner cases (escapes, POSIX classes, `$`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

__all__ = ["are_to_regex", "like_to_regex"]


def like_to_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    r"""Compile SQL LIKE to an anchored regex: ``%`` any run, ``_`` one char, ``\`` escapes.

    The server passes the value to LIKE untouched, so PostgREST's ``*`` alias for ``%`` does
    not apply: ``*`` is a literal asterisk.
    """
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise ValueError("LIKE pattern must not end with escape character")
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "%":
            if not out or out[-1] != ".*":  # collapse %% to avoid needless backtracking
                out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(out), flags)


_POSIX_CLASSES: Final[Mapping[str, str]] = {
    "alnum": r"0-9A-Za-z",
    "alpha": r"A-Za-z",
    "blank": r" \t",
    "cntrl": r"\x00-\x1f\x7f",
    "digit": r"0-9",
    "graph": r"\x21-\x7e",
    "lower": r"a-z",
    "print": r"\x20-\x7e",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "space": r" \t\n\r\f\v",
    "upper": r"A-Z",
    "word": r"\w",
    "xdigit": r"0-9A-Fa-f",
}
_ARE_ESCAPES: Final[Mapping[str, str]] = {
    "m": r"\b(?=\w)",
    "M": r"\b(?<=\w)",
    "y": r"\b",
    "Y": r"\B",
    "e": r"\x1b",
    "a": r"\x07",
}


def are_to_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    r"""Translate a PostgreSQL ARE (``~`` / ``~*``) into an equivalent Python regex.

    Covers what differs in practice: ``$`` only matches at the very end, ``.`` matches
    newlines, ``\m``/``\M``/``\y`` word boundaries, ``[[:class:]]`` and the ``***=``
    literal prefix. Unsupported syntax surfaces as ``re.error`` (treated as "never matches",
    where Postgres would have refused the subscription).
    """
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    if pattern.startswith("***="):
        return re.compile(re.escape(pattern[4:]), flags)
    pattern = pattern.removeprefix("***:")
    m = re.match(r"\(\?([a-z]+)\)", pattern)
    if m is not None:
        for letter in m.group(1):
            if letter == "i":
                flags |= re.IGNORECASE
            elif letter == "c":
                flags &= ~re.IGNORECASE
            elif letter == "x":
                flags |= re.VERBOSE
            elif letter != "s":
                raise re.error(f"unsupported embedded option {letter!r}")
        pattern = pattern[m.end() :]
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise re.error("trailing backslash")
            nxt = pattern[i + 1]
            out.append(_ARE_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
        elif ch == "[":
            i = _translate_bracket(pattern, i, out)
        elif ch == "$":
            out.append(r"\Z")
            i += 1
        else:
            out.append(ch)
            i += 1
    return re.compile("".join(out), flags)


def _translate_bracket(pattern: str, start: int, out: list[str]) -> int:
    """Copy the bracket expression at ``start`` into ``out``; return the index after it."""
    i = start + 1
    n = len(pattern)
    parts = ["["]
    if i < n and pattern[i] == "^":
        parts.append("^")
        i += 1
    first = True
    while i < n:
        ch = pattern[i]
        if ch == "]" and not first:
            parts.append("]")
            out.append("".join(parts))
            return i + 1
        first = False
        if pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            if end < 0 or pattern[i + 2 : end] not in _POSIX_CLASSES:
                raise re.error("invalid character class")
            parts.append(_POSIX_CLASSES[pattern[i + 2 : end]])
            i = end + 2
        elif pattern.startswith(("[.", "[="), i):
            close = pattern[i + 1] + "]"
            end = pattern.find(close, i + 2)
            if end < 0:
                raise re.error("invalid collating element")
            parts.append(re.escape(pattern[i + 2 : end]))
            i = end + 2
        elif ch == "\\" and i + 1 < n:
            parts.append("\\" + pattern[i + 1])
            i += 2
        elif ch in "[&~|]":
            parts.append("\\" + ch)  # literal in POSIX brackets; special or reserved in Python
            i += 1
        else:
            parts.append(ch)
            i += 1
    raise re.error("brackets [] not balanced")
