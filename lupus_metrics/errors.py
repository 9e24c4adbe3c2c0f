"""Errors that Lupus raises on purpose."""

from __future__ import annotations


class LupusValidationError(ValueError):
    """Input broke a rule; the message names where (column, row, field) and which rule.

    Raised before anything is written, so a rejected call changes nothing.

    Example:
        >>> err = LupusValidationError("labels", "key must match [A-Za-z_][A-Za-z0-9_.-]*", row=3)
        >>> str(err)
        'labels (row 3): key must match [A-Za-z_][A-Za-z0-9_.-]*'
    """

    def __init__(self, where: str, rule: str, *, row: int | None = None, value: object = None):
        self.where = where
        self.rule = rule
        self.row = row
        self.value = value
        location = where if row is None else f"{where} (row {row})"
        message = f"{location}: {rule}"
        if value is not None:
            message += f"; got {value!r}"
        super().__init__(message)
