"""Run detector rules over every matching series of a metric-point frame.

:func:`detect_many` fans the series out over a process pool (``backend="process"``,
one machine) or over a Spark cluster (``backend="spark"``,
``groupBy("series_id").applyInPandas``). Both backends call the same per-series
function, :func:`evaluate_series`, so they return the same records. A series whose
detector raises is reported in ``errors`` and does not stop the others.

Optional point columns reach the detectors that use them (``Detector.uses_series_info``):
``stderr`` and ``n`` (the value's standard error and support, NaN when unknown) and
``excluded`` (True: leave the point out of every baseline, e.g. a day whose blocking check
failed). Every record's ``expected``, ``lower`` and ``upper`` are clipped to the metric's valid
range (the rule's ``range``, or the one its name implies), and its ``params`` carry the detector's
parameters plus, where the detector calibrates, the ``threshold`` (and ``shift_threshold``, ``sum_threshold``) the
point was judged with.

Example:
    >>> import pandas as pd
    >>> points = pd.DataFrame({"metric": "rows.count", "labels": [{}] * 4,
    ...                        "ts": pd.date_range("2026-01-01", periods=4, tz="UTC"),
    ...                        "value": [1200.0, 1180.0, 0.0, 1210.0]})
    >>> rules = [{"metrics": ["rows.count"], "detector": {"kind": "threshold", "min": 1}}]
    >>> result = detect_many(points, rules, datasource="ds", workers=1)
    >>> result.anomalies["is_anomaly"].tolist(), len(result.errors)
    ([False, False, True, False], 0)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lupus_metrics.detectors.base import RESULT_COLUMNS, Verdict, as_float_series
from lupus_metrics.detectors.noise import SeriesInfo, clip_band
from lupus_metrics.detectors.registry import DetectorRule, rules_from_config
from lupus_metrics.errors import LupusValidationError
from lupus_metrics.schema import series_id as make_series_id

#: Columns of ``DetectionResult.anomalies`` (the anomaly data model, without the store's ``writer``).
RECORD_COLUMNS = (
    "metric", "labels", "series_id", "ts", "value", "expected", "lower", "upper",
    "score", "is_anomaly", "detector", "params", "run_id",
)  # fmt: skip
#: Columns of ``DetectionResult.errors``: one row per series and detector that failed.
ERROR_COLUMNS = ("metric", "labels", "series_id", "detector", "params", "error")
# What evaluate_series returns. Records and errors share one frame (an error row has `error` set and
# no ts) because Spark's applyInPandas needs a single output schema. `ts` is naive UTC: tz-aware
# columns convert element by element. `rule` is the position of the rule that produced the row:
# metric, labels, detector and params are joined on the driver, which knows them, rather than
# repeated on every row (building and shipping those object columns cost more than detecting).
_CORE_COLUMNS = (
    "series_id", "rule", "ts", "value", "expected", "lower", "upper", "score", "is_anomaly",
    "threshold", "shift_threshold", "sum_threshold", "details", "error",
)  # fmt: skip
_FLOAT_COLUMNS = RESULT_COLUMNS[:5]  # the column order of Verdict.floats
_THRESHOLD_COLUMNS = ("threshold", "shift_threshold", "sum_threshold")  # the column order of Verdict.thresholds
_EXPECTED, _SCORE = _FLOAT_COLUMNS.index("expected"), _FLOAT_COLUMNS.index("score")
_INPUT_COLUMNS = ("metric", "labels", "ts", "value")
#: Optional point columns passed on to detectors (SeriesInfo).
OPTIONAL_COLUMNS = ("n", "stderr", "excluded")
_BATCHES_PER_WORKER = 8


@dataclass(frozen=True)
class DetectionResult:
    """Verdicts for every evaluated point (``anomalies``) and the series that failed (``errors``).

    ``anomalies`` has :data:`RECORD_COLUMNS` (``labels`` and ``params`` as dicts) and passes
    :func:`lupus_metrics.frames.normalize_anomalies`; ``is_anomaly`` marks the alerts among them.
    """

    anomalies: pd.DataFrame
    errors: pd.DataFrame


def detect_many(
    points: Any,
    rules: Iterable[DetectorRule | Mapping[str, Any]],
    *,
    backend: Literal["process", "spark"] = "process",
    workers: int | None = None,
    datasource: str | None = None,
    run_id: str | None = None,
    progress: bool | None = None,
    spark: Any = None,
) -> DetectionResult:
    """Evaluate every series of ``points`` with every rule that matches it.

    ``points`` has ``metric, labels, ts, value`` and ``series_id`` (as read from the store); without
    ``series_id``, ``datasource`` is needed to compute it. Optional columns ``stderr``, ``n`` and
    ``excluded`` are passed to the detectors that use them (see the module docstring). With ``backend="spark"`` it may also be a
    Spark DataFrame (which must carry ``series_id``). When several matching rules use the same
    detector kind, the first one applies to that series.

    ``workers``: processes for the ``process`` backend (default: the CPU count, or 1 when every
    rule's detector is cheap enough that a pool would only add overhead, see ``Detector.parallel``;
    1 runs in this process).
    ``progress``: show a progress bar (default: only on a terminal). ``spark``: the SparkSession
    (default: the active one). A point is *evaluated* when the detector gave it an ``expected`` value
    or a ``score``; points it could not judge (too little history, missing values) produce no record.
    """
    parsed = rules_from_config(rules)
    if backend not in ("process", "spark"):
        raise LupusValidationError("backend", "must be 'process' or 'spark'", value=backend)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise LupusValidationError("workers", "must be a positive integer or None", value=workers)
    if backend == "spark":
        from lupus_metrics.detectors.runner_spark import evaluate_on_spark

        core, identities = evaluate_on_spark(points, parsed, spark=spark, datasource=datasource)
        parts = _parts_of_core(core)
    else:
        watched = _watched_series(_prepare_points(points, datasource), parsed)
        parts = _evaluate_in_processes(watched, parsed, workers=workers, progress=progress)
        identities = {s.series_id: (s.metric, s.labels) for s in watched}
    return _result(parts, identities, parsed, run_id)


@dataclass(frozen=True)
class SeriesPoints:
    """One series as the core receives it: identity plus timestamps (UTC) and values, in any order.

    ``stderr``, ``n`` (floats, NaN unknown) and ``excluded`` (booleans) are aligned with ``values``,
    or None when the points had no such column.
    """

    series_id: str
    metric: str
    labels: dict[str, str]
    ts: pd.DatetimeIndex
    values: np.ndarray
    stderr: np.ndarray | None = None
    n: np.ndarray | None = None
    excluded: np.ndarray | None = None


def evaluate_series(points: SeriesPoints, rules: Sequence[DetectorRule]) -> pd.DataFrame:
    """Apply every matching rule to one series: the core both backends share.

    Returns records for the evaluated points plus one row with ``error`` set for each rule whose
    detector failed on this series.
    """
    return evaluate_batch([points], rules)


def evaluate_batch(batch: Sequence[SeriesPoints], rules: Sequence[DetectorRule]) -> pd.DataFrame:
    """:func:`evaluate_series` over several series."""
    return _core_frame(_evaluate_parts(batch, rules))


def _evaluate_parts(batch: Sequence[SeriesPoints], rules: Sequence[DetectorRule]) -> list[_Part]:
    """The unit of work of a process: every matching rule over every series of ``batch``.

    Each rule judges all its series in one ``judge_many`` call, so detectors with a vectorized
    path (the window detector) pay numpy's per-call overhead once per batch, not once per series.
    """
    parts: list[_Part] = []
    for position, members in enumerate(_assign_rules(batch, rules)):
        rule = rules[position]
        detector, period = rule.detector, rule.period
        ready: list[tuple[SeriesPoints, pd.Series, SeriesInfo]] = []
        for points in members:
            try:
                series, info = _as_series(points, rule)
                ready.append((points, as_float_series(series), info))
            except Exception as err:  # one failing series must not stop the run: record it instead
                parts.append(_error_part(points, position, err))
        try:
            verdicts = _judge_many(detector, [r[1] for r in ready], [r[2] for r in ready], period)
        except Exception:  # find the series that failed: judge them one by one
            verdicts = None
        for k, (points, series, info) in enumerate(ready):
            try:
                one = verdicts[k] if verdicts is not None else _judge_many(detector, [series], [info], period)[0]
                parts.append(_verdict_part(points, position, series.index, one, info.valid_range))
            except Exception as err:
                parts.append(_error_part(points, position, err))
    return parts


def _judge_many(detector: Any, series: list[pd.Series], infos: list[SeriesInfo], period: int | None) -> list[Verdict]:
    if detector.uses_series_info:
        return detector.judge_many(series, period=period, infos=infos)
    return detector.judge_many(series, period=period)


def _assign_rules(batch: Sequence[SeriesPoints], rules: Sequence[DetectorRule]) -> list[list[SeriesPoints]]:
    """The series each rule evaluates: per series, the first matching rule of each detector kind."""
    assigned: list[list[SeriesPoints]] = [[] for _ in rules]
    for points in batch:
        applied: set[str] = set()
        for position, rule in enumerate(rules):
            if rule.detector.kind not in applied and rule.matches(points.metric, points.labels):
                applied.add(rule.detector.kind)
                assigned[position].append(points)
    return assigned


class _Part(NamedTuple):
    """The rows one rule produced for one series: kept floats (n x 5), flags, ts (epoch micros),
    thresholds (n x 3, or None when the detector reports none), the series' details as JSON (or None), error."""

    series_id: str
    rule: int
    floats: np.ndarray
    flags: np.ndarray
    ts: np.ndarray
    thresholds: np.ndarray | None
    details: str | None
    error: str | None


def _verdict_part(
    points: SeriesPoints, position: int, index: pd.Index, verdict: Verdict, bounds: tuple[float, float]
) -> _Part:
    floats = clip_band(verdict.floats, bounds)
    keep = ~(np.isnan(floats[:, _SCORE]) & np.isnan(floats[:, _EXPECTED]))
    micros = index.as_unit("us").asi8
    thresholds = None if verdict.thresholds is None else verdict.thresholds[keep]
    details = json.dumps(dict(verdict.details), sort_keys=True) if verdict.details else None
    if keep.all():  # most points are judged: no copies
        return _Part(points.series_id, position, floats, verdict.is_anomaly, micros, thresholds, details, None)
    return _Part(
        points.series_id, position, floats[keep], verdict.is_anomaly[keep], micros[keep], thresholds, details, None
    )


def _error_part(points: SeriesPoints, position: int, err: Exception) -> _Part:
    nat = np.array([np.iinfo("int64").min])  # NaT
    return _Part(
        points.series_id, position, np.full((1, 5), np.nan), np.zeros(1, bool), nat, None, None,
        f"{type(err).__name__}: {err}",
    )  # fmt: skip


def _core_frame(parts: list[_Part]) -> pd.DataFrame:
    """One frame of :data:`_CORE_COLUMNS` from the parts, built once per column.

    Per-series frames, or per-row identity columns, cost more to build and concatenate than detecting.
    """
    sizes = np.array([len(part.ts) for part in parts], dtype="int64")
    floats = np.concatenate([part.floats for part in parts]) if parts else np.empty((0, 5))
    thresholds = (
        np.concatenate([_thresholds(part) for part in parts]) if parts else np.empty((0, len(_THRESHOLD_COLUMNS)))
    )
    errors = np.full(int(sizes.sum()), None, dtype=object)
    if any(part.error is not None for part in parts):
        ends = np.cumsum(sizes)
        for end, part in zip(ends, parts, strict=True):
            if part.error is not None:
                errors[end - 1] = part.error
    columns: dict[str, Any] = {
        "series_id": np.repeat(_objects(part.series_id for part in parts), sizes),
        "rule": np.repeat(np.array([part.rule for part in parts], dtype="int64"), sizes),
        "ts": np.concatenate([part.ts for part in parts] or [np.empty(0, "int64")]).view("datetime64[us]"),
        **{column: floats[:, i] for i, column in enumerate(_FLOAT_COLUMNS)},
        "is_anomaly": np.concatenate([part.flags for part in parts] or [np.empty(0, bool)]),
        **{column: thresholds[:, i] for i, column in enumerate(_THRESHOLD_COLUMNS)},
        "details": np.repeat(_objects(part.details for part in parts), sizes),
        "error": errors,
    }
    return pd.DataFrame(columns)


def _as_series(points: SeriesPoints, rule: DetectorRule) -> tuple[pd.Series, SeriesInfo]:
    """The series in time order and its side information, aligned."""
    index, values = points.ts, points.values
    info = SeriesInfo(points.metric, points.stderr, points.n, points.excluded, rule.valid_range(points.metric))
    if not index.is_monotonic_increasing:
        order = np.argsort(index.asi8, kind="stable")
        index, values, info = index.take(order), values[order], info.take(order)
    if index.has_duplicates:
        raise LupusValidationError("ts", f"the series has duplicate timestamps, e.g. {index[index.duplicated()][0]}")
    return pd.Series(values, index=index, copy=False), info


def _prepare_points(points: Any, datasource: str | None) -> pd.DataFrame:
    if not isinstance(points, pd.DataFrame):
        raise LupusValidationError("points", "must be a pandas DataFrame (or a Spark DataFrame with backend='spark')")
    missing = [c for c in _INPUT_COLUMNS if c not in points.columns]
    if missing:
        raise LupusValidationError("points", f"missing column {missing[0]!r}", value=list(points.columns))
    # A new frame over the caller's columns, without copying them: columns are only ever replaced below.
    extra = [c for c in ("series_id", *OPTIONAL_COLUMNS) if c in points.columns]
    frame = pd.DataFrame({column: points[column] for column in [*_INPUT_COLUMNS, *extra]}, copy=False)
    if "series_id" not in frame.columns:
        if datasource is None:
            raise LupusValidationError("datasource", "is needed to compute series_id when points have no series_id")
        ids: dict[tuple[str, str], str] = {}
        column = []
        for metric, raw in zip(frame["metric"], frame["labels"], strict=True):
            labels = _labels_dict(raw)
            key = (metric, _labels_key(labels))
            column.append(ids.get(key) or ids.setdefault(key, make_series_id(datasource, metric, labels)))
        frame["series_id"] = column
    try:
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.as_unit("us")
    except (ValueError, TypeError) as err:
        raise LupusValidationError("points.ts", f"must be timestamps ({err})") from None
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    for column in ("n", "stderr"):
        if column in frame.columns:
            try:
                frame[column] = pd.to_numeric(frame[column]).astype("float64")
            except (ValueError, TypeError) as err:
                raise LupusValidationError(f"points.{column}", f"must be numbers or NaN ({err})") from None
    if "excluded" in frame.columns:
        frame["excluded"] = frame["excluded"].fillna(False).astype(bool)
    return frame


def _watched_series(frame: pd.DataFrame, rules: Sequence[DetectorRule]) -> list[SeriesPoints]:
    """The series some rule watches, split out of the frame (workers receive nothing they would skip)."""
    codes, uniques = pd.factorize(frame["series_id"], sort=True)
    micros = pd.DatetimeIndex(frame["ts"]).as_unit("us").asi8  # UTC, as _prepare_points left it
    # Only the numeric columns are reordered (by series, then time); identities are read once per series.
    order = np.lexsort((micros, codes))
    codes = codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.empty(0, "int64")
    ends = np.r_[starts[1:], len(codes)]
    ts = pd.DatetimeIndex(micros[order].view("datetime64[us]")).tz_localize("UTC")
    values = frame["value"].to_numpy(dtype="float64")[order]
    side = {
        column: (frame[column].to_numpy(dtype=bool if column == "excluded" else "float64")[order]
                 if column in frame.columns else None)
        for column in OPTIONAL_COLUMNS
    }  # fmt: skip
    firsts = order[starts]
    metrics, labels = frame["metric"].to_numpy()[firsts], frame["labels"].to_numpy()[firsts]
    watched = []
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
        series_labels = _labels_dict(labels[k])
        if any(rule.matches(metrics[k], series_labels) for rule in rules):
            stderr, n, excluded = (None if side[c] is None else side[c][a:b] for c in ("stderr", "n", "excluded"))
            watched.append(
                SeriesPoints(uniques[codes[a]], metrics[k], series_labels, ts[a:b], values[a:b], stderr, n, excluded)
            )
    return watched


def _evaluate_in_processes(
    series: list[SeriesPoints], rules: Sequence[DetectorRule], *, workers: int | None, progress: bool | None
) -> list[_Part]:
    if workers is None:
        pooled = any(rule.detector.parallel for rule in rules)
        workers = (os.cpu_count() or 1) if pooled else 1
    batches = _batches(series, workers * _BATCHES_PER_WORKER)
    bar = tqdm(total=len(series), unit="series", desc="detect", disable=None if progress is None else not progress)
    parts: list[_Part] = []
    with bar:
        if workers == 1 or len(batches) <= 1:
            for batch in batches:
                parts += _evaluate_parts(batch, rules)
                bar.update(len(batch))
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(batches)), initializer=_one_blas_thread) as pool:
                pending: dict[Future[list[_Part]], int] = {
                    pool.submit(_evaluate_parts, batch, rules): len(batch) for batch in batches
                }
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        parts += future.result()
                        bar.update(pending.pop(future))
    return parts


def _one_blas_thread() -> None:
    # Each worker is one unit of parallelism: BLAS threads on top of it would oversubscribe the cores.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _batches(series: list[SeriesPoints], count: int) -> list[list[SeriesPoints]]:
    """About ``count`` batches dealt round-robin, so every worker gets a similar mix of series."""
    return [batch for batch in (series[k::count] for k in range(count)) if batch]


def _parts_of_core(core: pd.DataFrame) -> list[_Part]:
    """Cut a core frame (as the Spark backend collects it) back into one part per series and rule."""
    codes, _ = pd.factorize(core["series_id"], sort=True)
    rule = core["rule"].to_numpy(dtype="int64")
    ts = core["ts"].to_numpy(dtype="datetime64[us]").view("int64")
    order = np.lexsort((ts, rule, codes))
    codes, rule, ts = codes[order], rule[order], ts[order]
    floats = core.loc[:, list(_FLOAT_COLUMNS)].to_numpy(dtype="float64")[order]
    thresholds = core.loc[:, list(_THRESHOLD_COLUMNS)].to_numpy(dtype="float64")[order]
    flags = core["is_anomaly"].to_numpy(dtype=bool)[order]
    ids, errors = core["series_id"].to_numpy()[order], core["error"].to_numpy()[order]
    details = core["details"].to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, (codes[1:] != codes[:-1]) | (rule[1:] != rule[:-1])]) if len(codes) else []
    ends = np.r_[starts[1:], len(codes)] if len(codes) else []

    def part(a: int, b: int) -> _Part:
        detail, error = details[a], errors[a]
        reported = thresholds[a:b] if not np.isnan(thresholds[a:b]).all() else None
        return _Part(
            ids[a], int(rule[a]), floats[a:b], flags[a:b], ts[a:b], reported,
            detail if pd.notna(detail) else None, error if pd.notna(error) else None,
        )  # fmt: skip

    return [part(a, b) for a, b in zip(starts, ends, strict=True)]


def _result(
    parts: list[_Part],
    identities: Mapping[str, tuple[str, dict[str, str]]],
    rules: Sequence[DetectorRule],
    run_id: str | None,
) -> DetectionResult:
    """Records ordered by series, rule and time (so both backends return the same frame), and errors."""
    parts = sorted(parts, key=lambda part: (part.series_id, part.rule))
    records = _records([p for p in parts if p.error is None], identities, rules, run_id, RECORD_COLUMNS)
    errors = _records([p for p in parts if p.error is not None], identities, rules, run_id, ERROR_COLUMNS)
    return DetectionResult(anomalies=records, errors=errors)


def _records(
    parts: list[_Part],
    identities: Mapping[str, tuple[str, dict[str, str]]],
    rules: Sequence[DetectorRule],
    run_id: str | None,
    columns: Sequence[str],
) -> pd.DataFrame:
    """The parts' rows with metric, labels, detector and params joined back.

    Identities are looked up once per part and spread with ``np.repeat``: building them per row,
    or shipping them from the workers, cost more than detecting.
    """
    sizes = np.array([len(part.ts) for part in parts], dtype="int64")

    def spread(values: Iterable[Any]) -> np.ndarray:
        return np.repeat(_objects(values), sizes)

    rule = np.repeat(np.array([part.rule for part in parts], dtype="int64"), sizes)
    floats = np.concatenate([part.floats for part in parts]) if parts else np.empty((0, 5))
    micros = np.concatenate([part.ts for part in parts]) if parts else np.empty(0, "int64")
    everything = {
        "metric": spread(identities[p.series_id][0] for p in parts),
        "labels": spread(identities[p.series_id][1] for p in parts),
        "series_id": spread(p.series_id for p in parts),
        "ts": pd.DatetimeIndex(micros.view("datetime64[us]")).tz_localize("UTC"),
        **{column: floats[:, i] for i, column in enumerate(_FLOAT_COLUMNS)},
        "is_anomaly": np.concatenate([p.flags for p in parts]) if parts else np.empty(0, bool),
        "detector": _objects(r.detector.kind for r in rules)[rule],
        "params": _params(parts, rules, sizes),
        "run_id": np.full(len(rule), run_id, dtype=object),
        "error": spread(p.error for p in parts),
    }
    return pd.DataFrame({column: everything[column] for column in columns})


def _params(parts: list[_Part], rules: Sequence[DetectorRule], sizes: np.ndarray) -> np.ndarray:
    """Each record's params: its rule's detector parameters, plus the series' details and the thresholds
    the point was judged with where the detector reports them.

    Records with the same rule, details and thresholds share one dict: thresholds change only when a
    series is recalibrated, and a dict per record cost more than detecting.
    """
    base = [rule.detector.params() for rule in rules]
    if all(part.details is None and part.thresholds is None for part in parts):
        rule = np.repeat(np.array([part.rule for part in parts], dtype="int64"), sizes)
        return _objects(base)[rule]
    table: list[dict[str, Any]] = []
    code_of: dict[tuple[Any, ...], int] = {}
    codes = np.empty(int(sizes.sum()), dtype="int64")
    at = 0
    for part in parts:
        details = json.loads(part.details) if part.details else {}
        rows = _thresholds(part)
        n = len(rows)
        # Keys are built once per run of equal threshold rows, not per record: a key per record cost
        # about a tenth of `auto`'s whole run.
        changed = np.ones(n, dtype=bool)
        if n > 1:
            before, after = rows[:-1], rows[1:]
            changed[1:] = ~np.all((after == before) | (np.isnan(after) & np.isnan(before)), axis=1)
        starts = np.flatnonzero(changed)
        run_codes = np.empty(len(starts), dtype="int64")
        for j, row in enumerate(rows[starts]):
            key = (part.rule, part.details, *(None if np.isnan(x) else float(x) for x in row))
            code = code_of.get(key)
            if code is None:
                params = {**base[part.rule], **details}
                for name, value in zip(_THRESHOLD_COLUMNS, key[2:], strict=True):
                    if value is not None:
                        params[name] = round(value, 6)
                code = code_of[key] = len(table)
                table.append(params)
            run_codes[j] = code
        codes[at : at + n] = np.repeat(run_codes, np.diff(np.append(starts, n)))
        at += n
    return _objects(table)[codes]


def _thresholds(part: _Part) -> np.ndarray:
    return part.thresholds if part.thresholds is not None else np.full((len(part.ts), len(_THRESHOLD_COLUMNS)), np.nan)


def _objects(values: Iterable[Any]) -> np.ndarray:
    # np.array() would try to broadcast dicts or lists; an object array filled item by item keeps them whole.
    items = list(values)
    out = np.empty(len(items), dtype=object)
    for position, item in enumerate(items):
        out[position] = item
    return out


def _labels_dict(value: Any) -> dict[str, str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {}
    if isinstance(value, str):
        return json.loads(value)
    return dict(value)


def _labels_key(labels: Mapping[str, str]) -> str:
    return json.dumps(sorted(labels.items()))
