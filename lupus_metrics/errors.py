"""Errors that Lupus raises on purpose."""

from __future__ import annotations

import contextlib
import json
import unicodedata
from typing import Any

#: At most this many characters of an offending value are quoted in a message.
MAX_QUOTED = 200


class LupusValidationError(ValueError):
    """Input broke a rule; the message names where (column, row, field) and which rule.

    Raised before anything is written, so a rejected call changes nothing.

    Example:
        >>> err = LupusValidationError("labels", "key must match [A-Za-z_][A-Za-z0-9_.-]*", row=3)
        >>> str(err)
        'labels (row 3): key must match [A-Za-z_][A-Za-z0-9_.-]*'
        >>> str(LupusValidationError("value", "must be finite", row=0, value=float("inf")))
        'value (row 0): must be finite; got Infinity'
    """

    def __init__(self, where: str, rule: str, *, row: int | None = None, value: object = None):
        self.where = where
        self.rule = rule
        self.row = row
        self.value = value
        location = where if row is None else f"{where} (row {row})"
        message = f"{location}: {rule}"
        if value is not None:
            message += f"; got {quote(value)}"
        super().__init__(message)


def quote(value: Any) -> str:
    """``value`` as JSON text (numpy scalars as plain numbers), cut to :data:`MAX_QUOTED` characters.

    Error messages quote what was wrong without echoing a 100 KB input back, and without
    Python reprs such as ``np.float64(inf)``.

    >>> quote("dsa\\n"), quote(3), quote("x" * 500)[-3:]
    ('"dsa\\\\n"', '3', 'x"…')
    """
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (list, tuple, dict)):
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()  # numpy scalar -> Python
    if isinstance(value, str) and len(value) > MAX_QUOTED:
        return _visible(json.dumps(value[:MAX_QUOTED], ensure_ascii=False)) + "…"
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = json.dumps(f"<{type(value).__name__}>")  # too deep or not JSON: name its type only
    return _visible(text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED]) + ("…" if len(text) > MAX_QUOTED else "")


def _visible(text: str) -> str:
    # json.dumps leaves DEL, C1 controls and format characters (bidi overrides...) as they are: escape them
    # so that the message shows what was sent instead of acting on the reader's terminal.
    if text.isascii() and "\x7f" not in text:
        return text
    return "".join(
        f"\\u{ord(c):04x}" if c == "\x7f" or unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c
        for c in text
    )
