"""The profile declaration: which columns to describe, with which statistics, per which groups.

A :class:`ProfileSpec` is what a product's YAML ``profile:`` block holds. It is checked
twice: here, without data (stat names, ``topk:K`` and ``pNN`` syntax, group-by names
usable as labels), and again by :func:`lupus_metrics.stats.plan.compile_plan` against the
input's schema (unknown columns, stats that do not apply to a column's type), before
any row is read. Every error is a :class:`~lupus_metrics.errors.LupusValidationError`
naming the column and the stat.

Example:
    >>> spec = ProfileSpec.from_yaml('''
    ... profile:
    ...   group_by: [region]
    ...   columns:
    ...     score: [mean, p50, p95, null_rate]
    ...     tags: ["topk:10"]
    ... ''')
    >>> spec.group_by, [s.text for s in spec.stats_of("score")]
    (['region'], ['mean', 'p50', 'p95', 'null_rate'])
    >>> spec.model_dump(exclude_defaults=True)
    {'group_by': ['region'], 'columns': {'score': ['mean', 'p50', 'p95', 'null_rate'], 'tags': ['topk:10']}}
    >>> ProfileSpec(columns={"score": ["topk:x"]})
    Traceback (most recent call last):
    ...
    lupus_metrics.errors.LupusValidationError: profile.columns.score: stat 'topk:x' is malformed: K must be a positive integer, as in topk:10; got "topk:x"
"""

from __future__ import annotations

import re
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.schema import LABEL_KEY_PATTERN

#: Label keys that top-k points use; a group-by column may not take them.
RESERVED_LABELS = frozenset({"value", "rank"})
MAX_TOPK = 1000

# Stat names without a parameter; ``pNN``, ``length_pNN`` and ``topk:K`` are parsed below.
PLAIN_STATS = frozenset(
    {
        "count", "null_count", "null_rate", "mean", "std", "min", "max", "sum", "zero_rate",
        "distinct_count", "other_share", "empty_rate", "true_rate", "lag",
        "length_mean", "length_std", "length_min", "length_max",
    }
)  # fmt: skip
_QUANTILE = re.compile(r"^(length_)?p(.*)$")
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


class StatRef(BaseModel):
    """One requested statistic, parsed: ``name`` is the catalogue entry, ``param`` its argument.

    ``text`` is what the user wrote; it becomes the metric name's suffix (``score.p05``).

    >>> StatRef.parse("p05", "score")
    StatRef(text='p05', name='quantile', param=0.05)
    >>> StatRef.parse("topk:5", "tags").param
    5
    """

    model_config = ConfigDict(frozen=True)

    text: str
    name: str
    param: float | int | None = None

    @classmethod
    def parse(cls, text: object, column: str) -> StatRef:
        """Parse ``text`` (e.g. ``"mean"``, ``"p95"``, ``"topk:10"``) as a stat of ``column``."""
        where = f"profile.columns.{column}"
        if not isinstance(text, str):
            raise LupusValidationError(where, "each stat must be a string such as 'mean' or 'topk:10'", value=text)
        if text in PLAIN_STATS:
            return cls(text=text, name=text)
        if text.startswith("topk"):
            k = text[5:] if text.startswith("topk:") else ""
            if not k.isdigit() or not 1 <= int(k) <= MAX_TOPK:
                raise LupusValidationError(
                    where, f"stat {text!r} is malformed: K must be a positive integer, as in topk:10", value=text
                )
            return cls(text=text, name="topk", param=int(k))
        match = _QUANTILE.match(text)
        if match:
            percent = match.group(2)
            if not _NUMBER.match(percent) or not 0 <= float(percent) <= 100:
                raise LupusValidationError(
                    where,
                    f"stat {text!r} is malformed: a quantile is pNN with NN a percent between 0 and 100",
                    value=text,
                )
            name = "length_quantile" if match.group(1) else "quantile"
            return cls(text=text, name=name, param=float(percent) / 100)
        raise LupusValidationError(where, f"unknown stat {text!r} (see docs/stats.md for the list)", value=text)


class SampleSpec(BaseModel):
    """Profile a Bernoulli sample of the rows instead of all of them (for very large inputs).

    Counts (``rows.count``, ``count``, ``null_count``, ``sum``, ``topk_count``) then describe
    the sample; rates, means and quantiles are estimates of the full table's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    fraction: float = Field(gt=0, le=1, description="Probability that a row is kept, in (0, 1].")
    seed: int | None = Field(default=None, description="Seed for a reproducible sample.")


class SparkOptions(BaseModel):
    """Accuracy settings of the PySpark engine (the pandas/DuckDB engine is always exact)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quantile_accuracy: int = Field(
        default=10000,
        ge=1,
        description="`accuracy` of Spark's percentile_approx: the rank error is at most 1/accuracy of the group's count.",
    )
    distinct: Literal["exact", "approx"] = Field(
        default="exact",
        description="`exact` uses count(DISTINCT); `approx` uses approx_count_distinct (HyperLogLog++).",
    )
    distinct_rsd: float = Field(
        default=0.05, gt=0, lt=1, description="Maximum relative standard deviation of approx_count_distinct."
    )


class ProfileSpec(BaseModel):
    """Declaration of a profile: group-by columns, per-column stats, optional filter and sample.

    ``columns`` maps a column to its stats; an empty list (or no value in YAML) means the
    defaults for the column's type. The overall group is always computed (labels ``{}``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_by: list[str] = Field(default_factory=list, description="Columns whose value combinations form groups.")
    columns: dict[str, list[StatRef]] = Field(default_factory=dict, description="Column -> stats ([] = type defaults).")
    filter: str | None = Field(default=None, description="SQL boolean expression; only matching rows are profiled.")
    sample: SampleSpec | None = None
    spark: SparkOptions = Field(default_factory=SparkOptions)

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise _as_lupus_error(err) from None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> ProfileSpec:  # type: ignore[override]
        """Validate a mapping (e.g. parsed YAML); errors are :class:`LupusValidationError`."""
        if isinstance(obj, dict):
            return cls(**obj)
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as err:
            raise _as_lupus_error(err) from None

    @classmethod
    def from_yaml(cls, text: str) -> ProfileSpec:
        """Load from YAML: a bare profile mapping, a ``profile:`` block or a whole product file."""
        data = yaml.safe_load(text)
        if isinstance(data, dict) and isinstance(data.get("attributes"), dict):
            data = data["attributes"]
        if isinstance(data, dict) and "profile" in data:
            data = data["profile"]
        if not isinstance(data, dict):
            raise LupusValidationError("profile", "must be a mapping with group_by and columns", value=data)
        return cls.model_validate(data)

    def stats_of(self, column: str) -> list[StatRef]:
        """The stats requested for ``column`` (empty: the type defaults apply)."""
        return self.columns[column]

    @field_serializer("columns")
    def _columns_as_text(self, columns: dict[str, list[StatRef]]) -> dict[str, list[str]]:
        return {column: [ref.text for ref in refs] for column, refs in columns.items()}

    @field_validator("group_by", mode="before")
    @classmethod
    def _group_by(cls, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            raise LupusValidationError("profile.group_by", "must be a list of column names", value=value)
        for name in value:
            if not isinstance(name, str) or not LABEL_KEY_PATTERN.fullmatch(name):
                raise LupusValidationError(
                    "profile.group_by",
                    "each column name becomes a label key and must match [A-Za-z_][A-Za-z0-9_.-]{0,63}",
                    value=name,
                )
            if name in RESERVED_LABELS:
                raise LupusValidationError(
                    "profile.group_by", f"{name!r} is reserved for top-k labels; rename the column", value=name
                )
        if len(set(value)) != len(value):
            raise LupusValidationError("profile.group_by", "a column is listed twice", value=value)
        return value

    @field_validator("columns", mode="before")
    @classmethod
    def _columns(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise LupusValidationError("profile.columns", "must map column names to lists of stats", value=value)
        parsed: dict[str, list[StatRef]] = {}
        for column, stats in value.items():
            if not isinstance(column, str) or not column:
                raise LupusValidationError("profile.columns", "column names must be non-empty strings", value=column)
            if stats is None:
                stats = []
            if isinstance(stats, str):
                stats = [stats]
            if not isinstance(stats, list):
                raise LupusValidationError(f"profile.columns.{column}", "must be a list of stats", value=stats)
            refs: list[StatRef] = []
            for stat in stats:
                ref = stat if isinstance(stat, StatRef) else StatRef.parse(stat, column)
                if ref not in refs:
                    refs.append(ref)
            _check_topk_pairing(column, refs)
            parsed[column] = refs
        return parsed

    @model_validator(mode="after")
    def _filter(self) -> ProfileSpec:
        if self.filter is not None and (not self.filter.strip() or ";" in self.filter):
            raise LupusValidationError(
                "profile.filter", "must be one SQL boolean expression (no ';')", value=self.filter
            )
        return self


def _check_topk_pairing(column: str, refs: list[StatRef]) -> None:
    topks = [r for r in refs if r.name == "topk"]
    if len(topks) > 1:
        raise LupusValidationError(
            f"profile.columns.{column}",
            "at most one topk:K per column (its points are named <column>.topk_*)",
            value=[r.text for r in topks],
        )
    if any(r.name == "other_share" for r in refs) and not topks:
        raise LupusValidationError(
            f"profile.columns.{column}",
            "stat 'other_share' needs a topk:K stat on the same column (it is 1 - their share)",
        )


def _as_lupus_error(err: ValidationError) -> LupusValidationError:
    # Our validators raise LupusValidationError, which pydantic wraps; unwrap it, and
    # phrase pydantic's own errors (types, bounds, unknown keys) the same way.
    first = err.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, LupusValidationError):
        return cause
    where = ".".join(["profile", *(str(part) for part in first["loc"])])
    return LupusValidationError(where, first["msg"], value=first.get("input"))
