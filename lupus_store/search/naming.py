"""Index names: one index per table, datasource family and year.

``<prefix>-<table>-<family>-<year>``, e.g. ``lupus-points-service1-2026``. The *family* of a
datasource is its name up to the first ``-`` (``service1-recommend`` and ``service1-search``
share ``service1``), so a product's datasources share shards instead of each opening its own.
Yearly indices make retention a matter of deleting whole indices (``lupus-*-2019``) instead of
deleting documents. One index template per table (``<prefix>-<table>``) gives every new
index its mappings, so writes create indices on demand.

Example:
    >>> index_name("lupus", "points", "service1-recommend", 2026)
    'lupus-points-service1-2026'
    >>> family_pattern("lupus", "anomalies", "service1-recommend")
    'lupus-anomalies-service1-*'
"""

from __future__ import annotations

import re

from lupus_metrics.errors import LupusValidationError

TABLES = ("points", "anomalies")
# Index names must be lowercase and may not contain most punctuation; datasource names already obey.
PREFIX_PATTERN = re.compile(r"[a-z0-9][a-z0-9_]{0,39}")


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can start an index name (lowercase letters, digits, ``_``; no ``-``)."""
    if not isinstance(prefix, str) or not PREFIX_PATTERN.fullmatch(prefix):
        raise LupusValidationError(
            "prefix", "must be 1-40 characters of a-z, 0-9 or '_', starting with a letter or digit", value=prefix
        )
    return prefix


def family_of(datasource: str) -> str:
    """The datasource family: the name up to its first ``-``.

    >>> family_of("service1-recommend"), family_of("demo")
    ('service1', 'demo')
    """
    return datasource.split("-", 1)[0]


def index_name(prefix: str, table: str, datasource: str, year: int) -> str:
    """The index that holds ``table`` rows of ``datasource`` whose ts falls in ``year``."""
    return f"{prefix}-{table}-{family_of(datasource)}-{year:04d}"


def family_pattern(prefix: str, table: str, datasource: str) -> str:
    """Every yearly index of ``datasource``'s family for ``table``."""
    return f"{prefix}-{table}-{family_of(datasource)}-*"


def table_pattern(prefix: str, table: str) -> str:
    """Every index of ``table`` under ``prefix``.

    >>> table_pattern("lupus", "points")
    'lupus-points-*'
    """
    return f"{prefix}-{table}-*"


def template_name(prefix: str, table: str) -> str:
    """The index template that gives ``table``'s indices their mappings."""
    return f"{prefix}-{table}"
