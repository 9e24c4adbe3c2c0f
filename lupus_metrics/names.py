"""The one rule for names: datasources, metrics, label keys and values, tokens, users and teams.

The API, the store, the metadata database, the Python client and the CLI all call these
functions, so a name refused by one front door is refused by every other. The rules:

- Patterns match the **whole** string (``re.fullmatch``): ``$`` would also match before a
  final newline, and ``"dsa\\n"`` would pass as ``dsa``.
- No character of the Unicode categories ``Cc`` (C0 and C1 controls, e.g. NUL, newline,
  ``\\x85``), ``Cf`` (format characters: bidi overrides, zero-width spaces, soft hyphen, BOM),
  ``Cs`` (lone surrogates, which cannot be encoded as UTF-8), ``Zl`` and ``Zp`` (line and
  paragraph separators), in any name or label value: they make two different names look alike,
  break log lines, paths and terminals.
- Free-text names (metric, token, user, team) are non-empty, have no surrounding white space
  and have a maximum length.

Example:
    >>> validate_datasource("service1-recommend")
    'service1-recommend'
    >>> validate_datasource("dsa\\n")
    Traceback (most recent call last):
    ...
    lupus_metrics.errors.LupusValidationError: datasource: must be 1-63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit; got "dsa\\n"
    >>> forbidden_character("age\\u202e.mean")
    3
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from lupus_metrics.errors import LupusValidationError

# Datasource names become path segments (`datasource=<ds>`) and URL parts, hence the strict charset.
DATASOURCE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
# Label keys become query parameters and column-like names.
LABEL_KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
MAX_METRIC_LENGTH = 200
MAX_LABELS = 16
MAX_LABEL_VALUE_LENGTH = 256
#: Token, user and team names (the metadata database's column width).
MAX_ACCOUNT_NAME_LENGTH = 100
#: Unicode categories no name or label value may contain.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
RULE_TEXT = "no control or format characters (Unicode Cc, Cf, Cs, Zl, Zp)"


def forbidden_character(text: str) -> int | None:
    """The position of the first character of a forbidden category in ``text``, or None.

    >>> forbidden_character("region"), forbidden_character("a\\x85b"), forbidden_character("東京")
    (None, 1, None)
    """
    if text.isascii():  # the common case, one regex scan
        match = _ASCII_CONTROL.search(text)
        return match.start() if match else None
    for position, char in enumerate(text):
        if unicodedata.category(char) in FORBIDDEN_CATEGORIES:
            return position
    return None


def validate_datasource(name: object, *, field: str = "datasource") -> str:
    """Return ``name`` if it is a valid datasource name, else raise :class:`LupusValidationError`."""
    if not isinstance(name, str) or DATASOURCE_PATTERN.fullmatch(name) is None:
        raise LupusValidationError(
            field, "must be 1-63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit", value=name
        )
    return name


def validate_text_name(name: object, *, field: str, max_length: int, row: int | None = None) -> str:
    """A free-text name: a non-empty string of at most ``max_length`` characters, no surrounding
    white space, no forbidden character.

    >>> validate_text_name("nightly export", field="name", max_length=100)
    'nightly export'
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise LupusValidationError(field, "must be a non-empty string without surrounding spaces", row=row, value=name)
    if len(name) > max_length or forbidden_character(name) is not None:
        raise LupusValidationError(
            field, f"must be at most {max_length} characters with {RULE_TEXT}", row=row, value=name
        )
    return name


def validate_metric_name(name: object, *, row: int | None = None) -> str:
    """A metric name: free text of at most 200 characters (dotted by convention, e.g. ``age.null_rate``).

    >>> validate_metric_name("age.null_rate")
    'age.null_rate'
    """
    return validate_text_name(name, field="metric", max_length=MAX_METRIC_LENGTH, row=row)


def validate_account_name(name: object, *, field: str) -> str:
    """A token, user or team name (``field`` says which): free text of at most 100 characters.

    >>> validate_account_name("alice@example.com", field="username")
    'alice@example.com'
    """
    return validate_text_name(name, field=field, max_length=MAX_ACCOUNT_NAME_LENGTH)


def validate_label_key(key: object, *, row: int | None = None) -> str:
    """A label key: ``[A-Za-z_][A-Za-z0-9_.-]{0,63}``, the whole key.

    >>> validate_label_key("model.version")
    'model.version'
    """
    if not isinstance(key, str) or LABEL_KEY_PATTERN.fullmatch(key) is None:
        raise LupusValidationError("labels", "key must match [A-Za-z_][A-Za-z0-9_.-]{0,63}", row=row, value=key)
    return key


def validate_label_value(key: str, value: object, *, row: int | None = None) -> str:
    """A label value: any string of at most 256 characters without a forbidden character (may be empty).

    >>> validate_label_value("segment", "東京 / ü")
    '東京 / ü'
    """
    if not isinstance(value, str):
        raise LupusValidationError("labels", f"value of {key!r} must be a string", row=row, value=value)
    if len(value) > MAX_LABEL_VALUE_LENGTH or forbidden_character(value) is not None:
        raise LupusValidationError(
            "labels", f"value of {key!r} must be at most {MAX_LABEL_VALUE_LENGTH} characters with {RULE_TEXT}",
            row=row, value=value,
        )  # fmt: skip
    return value


def validate_labels(labels: object, *, row: int | None = None) -> dict[str, str]:
    """Return ``labels`` as a plain ``dict[str, str]`` if it obeys the label rules.

    Rules (:mod:`lupus_metrics.names`): at most 16 labels; keys match ``[A-Za-z_][A-Za-z0-9_.-]{0,63}``
    (the whole key); values are strings of at most 256 characters without control or format
    characters. ``None`` means no labels.

    >>> validate_labels({"region": "JP"})
    {'region': 'JP'}
    """
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise LupusValidationError("labels", "must be a mapping of string keys to string values", row=row, value=labels)
    if len(labels) > MAX_LABELS:
        raise LupusValidationError("labels", f"at most {MAX_LABELS} labels per point", row=row, value=len(labels))
    clean: dict[str, str] = {}
    for key, value in labels.items():
        clean[validate_label_key(key, row=row)] = validate_label_value(key, value, row=row)
    return clean
