"""The one compiler from a :class:`ProfileSpec` and a schema to a :class:`ProfilePlan`.

It checks the spec against the schema before any row is read: unknown columns,
stats that do not apply to a column's kind, group-by columns that are arrays.

Example:
    >>> spec = ProfileSpec(group_by=["region"], columns={"score": ["mean", "null_rate"]})
    >>> schema = {"region": ColumnType("string"), "score": ColumnType("numeric", floating=True)}
    >>> plan = compile_plan(spec, schema)
    >>> [o.metric for o in plan.outputs]
    ['rows.count', 'score.mean', 'score.null_rate']
    >>> compile_plan(ProfileSpec(columns={"region": ["mean"]}), schema)
    Traceback (most recent call last):
    ...
    lupus_metrics.errors.LupusValidationError: profile.columns.region: stat 'mean' does not apply to a string column (it takes: count, distinct_count, empty_rate, length_max, length_mean, length_min, length_pNN, length_std, null_count, null_rate, other_share, topk:K)
"""

from __future__ import annotations

from collections.abc import Mapping

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.schema import validate_metric_name
from lupus_metrics.stats.catalogue import CATALOGUE, DEFAULT_STATS, ColumnContext, applicable_stats
from lupus_metrics.stats.column_types import ColumnType, Kind
from lupus_metrics.stats.plan import Estimate, Output, PlanBuilder, ProfilePlan, TopK
from lupus_metrics.stats.spec import ProfileSpec, StatRef

ROWS_METRIC = "rows.count"
_DISPLAY = {"quantile": "pNN", "length_quantile": "length_pNN", "topk": "topk:K"}


def compile_plan(spec: ProfileSpec, schema: Mapping[str, ColumnType]) -> ProfilePlan:
    """Check ``spec`` against ``schema`` (column -> kind) and compile it to a plan."""
    casts: dict[str, str] = {}
    for name in spec.group_by:
        kind = _column_type(schema, name, "profile.group_by").kind
        if kind == "null":
            casts[name] = "string"
        elif kind in ("array", "other"):
            raise LupusValidationError(
                "profile.group_by", f"column {name!r} is of kind {kind}; groups need scalar values"
            )
    builder = PlanBuilder()
    rows = builder.agg("count_rows")
    outputs = [Output(ROWS_METRIC, Estimate(rows, n=rows))]
    topks: list[TopK] = []
    for column, refs in spec.columns.items():
        column_type = _column_type(schema, column, f"profile.columns.{column}")
        if column_type.kind == "null":
            column_type = ColumnType(_kind_for_untyped(column, refs))
            casts[column] = column_type.kind
        context = ColumnContext(column, column_type)
        stats = refs or resolved_defaults(context.type)
        for ref in stats:
            _check_applies(context, ref)
        top = next((r for r in stats if r.name == "topk"), None)
        if top is not None:
            other = any(r.name == "other_share" for r in stats)
            topks.append(TopK(column, int(top.param or 0), context.type.kind == "array", other))
        for ref in stats:
            if ref.name not in ("topk", "other_share"):
                outputs.append(Output(f"{column}.{ref.text}", CATALOGUE[ref.name].build(builder, context, ref)))
    _check_metric_names([o.metric for o in outputs] + [m for t in topks for m in topk_metrics(t)])
    return ProfilePlan(
        group_by=tuple(spec.group_by),
        values=builder.values(),
        aggregates=builder.aggregates(),
        outputs=tuple(outputs),
        topks=tuple(topks),
        casts=casts,
        filter=spec.filter,
        sample_fraction=spec.sample.fraction if spec.sample else None,
        sample_seed=spec.sample.seed if spec.sample else None,
    )


def resolved_defaults(column_type: ColumnType) -> list[StatRef]:
    """The default stats of a column of this type.

    >>> [s.text for s in resolved_defaults(ColumnType("boolean"))]
    ['count', 'null_rate', 'true_rate']
    """
    if column_type.kind == "other":
        return []
    return [StatRef.parse(text, "") for text in DEFAULT_STATS[column_type.kind]]


def topk_metrics(topk: TopK) -> list[str]:
    """Metric names a top-k step emits.

    >>> topk_metrics(TopK("tags", 5, elements=True, other_share=True))
    ['tags.topk_count', 'tags.topk_share', 'tags.other_share']
    """
    names = [f"{topk.column}.topk_count", f"{topk.column}.topk_share"]
    return [*names, f"{topk.column}.other_share"] if topk.other_share else names


def _column_type(schema: Mapping[str, ColumnType], name: str, where: str) -> ColumnType:
    if name not in schema:
        raise LupusValidationError(where, f"unknown column {name!r} (columns: {', '.join(schema)})", value=name)
    return schema[name]


def _kind_for_untyped(column: str, refs: list[StatRef]) -> Kind:
    # An all-null column of unknown type takes the first kind all its stats apply to.
    for kind in ("numeric", "string", "boolean", "datetime", "array"):
        if all(kind in CATALOGUE[r.name].kinds for r in refs):
            return kind  # type: ignore[return-value]
    raise LupusValidationError(
        f"profile.columns.{column}",
        "the column has no type (all null) and its stats fit no single type",
        value=[r.text for r in refs],
    )


def _check_applies(context: ColumnContext, ref: StatRef) -> None:
    kind = context.type.kind
    where = f"profile.columns.{context.name}"
    if kind == "other":
        raise LupusValidationError(
            where, "this column's type cannot be profiled (not numeric, string, boolean, datetime or array)"
        )
    if kind not in CATALOGUE[ref.name].kinds:
        allowed = ", ".join(sorted(_DISPLAY.get(n, n) for n in applicable_stats(kind)))
        raise LupusValidationError(where, f"stat {ref.text!r} does not apply to a {kind} column (it takes: {allowed})")


def _check_metric_names(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        validate_metric_name(name)
        if name in seen:
            raise LupusValidationError(
                "profile.columns", f"two stats produce the metric {name!r}; rename a column or drop a stat"
            )
        seen.add(name)
