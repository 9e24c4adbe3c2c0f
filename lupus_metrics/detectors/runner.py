"""Run detector rules over every matching series of a metric-point frame.

:func:`detect_many` fans the series out over a process pool (``backend="process"``,
one machine) or over a Spark cluster (``backend="spark"``,
``groupBy("series_id").applyInPandas``). Both backends call the same per-series
function, :func:`evaluate_series`, so they return the same records. A series whose
detector raises is reported in ``errors`` and does not stop the others.

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
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lupus_metrics.detectors.base import RESULT_COLUMNS
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
_CORE_COLUMNS = ("series_id", "rule", "ts", "value", "expected", "lower", "upper", "score", "is_anomaly", "error")
_FLOAT_COLUMNS = ("value", "expected", "lower", "upper", "score")
_INPUT_COLUMNS = ("metric", "labels", "ts", "value")
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
    ``series_id``, ``datasource`` is needed to compute it. With ``backend="spark"`` it may also be a
    Spark DataFrame (which must carry ``series_id``). When several matching rules use the same
    detector kind, the first one applies to that series.

    ``workers``: processes for the ``process`` backend (default: CPU count; 1 runs in this process).
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
    else:
        watched = _watched_series(_prepare_points(points, datasource), parsed)
        core = _evaluate_in_processes(watched, parsed, workers=workers, progress=progress)
        identities = {s.series_id: (s.metric, s.labels) for s in watched}
    return _split(core, identities, parsed, run_id)


@dataclass(frozen=True)
class SeriesPoints:
    """One series as the core receives it: identity plus timestamps (UTC) and values, in any order."""

    series_id: str
    metric: str
    labels: dict[str, str]
    ts: pd.DatetimeIndex
    values: np.ndarray


def evaluate_series(points: SeriesPoints, rules: Sequence[DetectorRule]) -> pd.DataFrame:
    """Apply every matching rule to one series: the core both backends share.

    Returns records for the evaluated points plus one row with ``error`` set for each rule whose
    detector failed on this series.
    """
    return _core_frame(_evaluate_parts(points, rules))


def evaluate_batch(batch: Sequence[SeriesPoints], rules: Sequence[DetectorRule]) -> pd.DataFrame:
    """:func:`evaluate_series` over several series (the unit of work of a process)."""
    return _core_frame([part for points in batch for part in _evaluate_parts(points, rules)])


def _evaluate_parts(points: SeriesPoints, rules: Sequence[DetectorRule]) -> list[dict[str, np.ndarray]]:
    applied: set[str] = set()
    parts: list[dict[str, np.ndarray]] = []
    for position, rule in enumerate(rules):
        detector = rule.detector
        if detector.kind in applied or not rule.matches(points.metric, points.labels):
            continue
        applied.add(detector.kind)
        try:
            verdict = detector.detect(_as_series(points), period=rule.period)
            # One 2-D read of the float columns: pandas column access costs more than the copy.
            floats = verdict[list(_FLOAT_COLUMNS)].to_numpy(dtype="float64")
            columns = {column: floats[:, i] for i, column in enumerate(_FLOAT_COLUMNS)}
            columns["is_anomaly"] = verdict["is_anomaly"].to_numpy(dtype=bool)
            keep = ~(np.isnan(columns["score"]) & np.isnan(columns["expected"]))
            part = {column: values[keep] for column, values in columns.items()}
            part["ts"] = _utc_micros(verdict.index[keep])
            part["error"] = np.full(int(keep.sum()), None, dtype=object)
        except Exception as err:  # one failing series must not stop the run: record it instead
            part = {column: np.array([np.nan]) for column in RESULT_COLUMNS}
            part.update(is_anomaly=np.array([False]), ts=np.array(["NaT"], dtype="datetime64[us]"))
            part["error"] = np.array([f"{type(err).__name__}: {err}"], dtype=object)
        size = len(part["ts"])
        part["series_id"] = np.full(size, points.series_id, dtype=object)
        part["rule"] = np.full(size, position, dtype="int64")
        parts.append(part)
    return parts


def _concat_core(frames: list[pd.DataFrame]) -> pd.DataFrame:
    # Column-wise, for the same reason as _core_frame (pandas checks every None of `error` when concatenating).
    if not frames:
        return _empty_core()
    return pd.DataFrame({c: np.concatenate([f[c].to_numpy() for f in frames]) for c in _CORE_COLUMNS})


def _core_frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    # One concatenation per column: concatenating per-series DataFrames costs more than detecting.
    if not parts:
        return _empty_core()
    return pd.DataFrame({column: np.concatenate([part[column] for part in parts]) for column in _CORE_COLUMNS})


def _as_series(points: SeriesPoints) -> pd.Series:
    index, values = points.ts, points.values
    if not index.is_monotonic_increasing:
        order = np.argsort(index.asi8, kind="stable")
        index, values = index.take(order), values[order]
    if index.has_duplicates:
        raise LupusValidationError("ts", f"the series has duplicate timestamps, e.g. {index[index.duplicated()][0]}")
    return pd.Series(values, index=index, dtype="float64")


def _prepare_points(points: Any, datasource: str | None) -> pd.DataFrame:
    if not isinstance(points, pd.DataFrame):
        raise LupusValidationError("points", "must be a pandas DataFrame (or a Spark DataFrame with backend='spark')")
    missing = [c for c in _INPUT_COLUMNS if c not in points.columns]
    if missing:
        raise LupusValidationError("points", f"missing column {missing[0]!r}", value=list(points.columns))
    frame = points.loc[:, [*_INPUT_COLUMNS, *(["series_id"] if "series_id" in points.columns else [])]].copy()
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
    return frame


def _watched_series(frame: pd.DataFrame, rules: Sequence[DetectorRule]) -> list[SeriesPoints]:
    """The series some rule watches, split out of the frame (workers receive nothing they would skip)."""
    codes, _ = pd.factorize(frame["series_id"], sort=True)
    ordered = frame.take(np.argsort(codes, kind="stable"))
    ids = ordered["series_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    ts = pd.DatetimeIndex(ordered["ts"])
    values = ordered["value"].to_numpy()
    metrics, labels = ordered["metric"].to_numpy(), ordered["labels"].to_numpy()
    watched = []
    for a, b in zip(starts, ends, strict=True):
        series_labels = _labels_dict(labels[a])
        if any(rule.matches(metrics[a], series_labels) for rule in rules):
            watched.append(SeriesPoints(ids[a], metrics[a], series_labels, ts[a:b], values[a:b]))
    return watched


def _evaluate_in_processes(
    series: list[SeriesPoints], rules: Sequence[DetectorRule], *, workers: int | None, progress: bool | None
) -> pd.DataFrame:
    workers = workers or os.cpu_count() or 1
    batches = _batches(series, workers * _BATCHES_PER_WORKER)
    bar = tqdm(total=len(series), unit="series", desc="detect", disable=None if progress is None else not progress)
    results: list[pd.DataFrame] = []
    with bar:
        if workers == 1 or len(batches) <= 1:
            for batch in batches:
                results.append(evaluate_batch(batch, rules))
                bar.update(len(batch))
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(batches)), initializer=_one_blas_thread) as pool:
                pending: dict[Future[pd.DataFrame], int] = {
                    pool.submit(evaluate_batch, batch, rules): len(batch) for batch in batches
                }
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        results.append(future.result())
                        bar.update(pending.pop(future))
    return _concat_core(results)


def _one_blas_thread() -> None:
    # Each worker is one unit of parallelism: BLAS threads on top of it would oversubscribe the cores.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _batches(series: list[SeriesPoints], count: int) -> list[list[SeriesPoints]]:
    """About ``count`` batches dealt round-robin, so every worker gets a similar mix of series."""
    return [batch for batch in (series[k::count] for k in range(count)) if batch]


def _split(
    core: pd.DataFrame,
    identities: Mapping[str, tuple[str, dict[str, str]]],
    rules: Sequence[DetectorRule],
    run_id: str | None,
) -> DetectionResult:
    series_codes, series_ids = pd.factorize(core["series_id"], sort=True)
    rule = core["rule"].to_numpy(dtype="int64")
    ts = core["ts"].to_numpy(dtype="datetime64[us]")
    order = np.lexsort((ts.view("int64"), rule, series_codes))
    series_codes, rule = series_codes[order], rule[order]
    # Look identities up once per series and rule, then spread them by integer codes.
    metrics = _objects(identities[sid][0] for sid in series_ids)
    labels = _objects(identities[sid][1] for sid in series_ids)
    columns = {
        "metric": metrics[series_codes],
        "labels": labels[series_codes],
        "series_id": core["series_id"].to_numpy()[order],
        "ts": pd.DatetimeIndex(ts[order]).tz_localize("UTC"),
        **{c: core[c].to_numpy(dtype="float64")[order] for c in ("value", "expected", "lower", "upper", "score")},
        "is_anomaly": core["is_anomaly"].to_numpy(dtype=bool)[order],
        "detector": _objects(r.detector.kind for r in rules)[rule],
        "params": _objects(r.detector.params() for r in rules)[rule],
        "run_id": np.full(len(order), run_id, dtype=object),
        "error": core["error"].to_numpy()[order],
    }
    everything = pd.DataFrame(columns)
    failed = pd.notna(columns["error"])
    records = everything[~failed].reset_index(drop=True)
    errors = everything[failed].reset_index(drop=True)
    return DetectionResult(anomalies=records.loc[:, list(RECORD_COLUMNS)], errors=errors.loc[:, list(ERROR_COLUMNS)])


def _objects(values: Iterable[Any]) -> np.ndarray:
    # np.array() would try to broadcast dicts or lists; an object array filled item by item keeps them whole.
    items = list(values)
    out = np.empty(len(items), dtype=object)
    for position, item in enumerate(items):
        out[position] = item
    return out


def _utc_micros(index: pd.DatetimeIndex) -> np.ndarray:
    """Naive UTC datetime64[us] values of a (tz-aware or naive-UTC) index, without per-element conversion."""
    return index.as_unit("us").asi8.view("datetime64[us]")


def _empty_core() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in _CORE_COLUMNS})
    return frame.astype(
        {"series_id": object, "rule": "int64", "ts": "datetime64[us]", "is_anomaly": bool, "error": object}
    )


def _labels_dict(value: Any) -> dict[str, str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {}
    if isinstance(value, str):
        return json.loads(value)
    return dict(value)


def _labels_key(labels: Mapping[str, str]) -> str:
    return json.dumps(sorted(labels.items()))
