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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

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
# What evaluate_series returns: records and errors in one frame (errors have `error` set and no ts),
# because Spark's applyInPandas needs a single output schema.
_CORE_COLUMNS = (
    "series_id", "metric", "labels", "ts", "value", "expected", "lower", "upper",
    "score", "is_anomaly", "detector", "params", "error",
)  # fmt: skip
_INPUT_COLUMNS = ("metric", "labels", "ts", "value")
_CHUNKS_PER_WORKER = 8


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
    (default: the active one). A point is *evaluated* when the detector could score it; points a
    detector cannot judge (too little history, missing values) produce no record.
    """
    parsed = rules_from_config(rules)
    if backend not in ("process", "spark"):
        raise LupusValidationError("backend", "must be 'process' or 'spark'", value=backend)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise LupusValidationError("workers", "must be a positive integer or None", value=workers)
    if backend == "spark":
        from lupus_metrics.detectors.runner_spark import evaluate_on_spark

        core = evaluate_on_spark(points, parsed, spark=spark, datasource=datasource)
    else:
        frame = _prepare_points(points, datasource)
        core = _evaluate_in_processes(_matching(frame, parsed), parsed, workers=workers, progress=progress)
    return _split(core, run_id)


def evaluate_series(points: pd.DataFrame, rules: Sequence[DetectorRule]) -> pd.DataFrame:
    """Apply every matching rule to one series (``points`` of a single ``series_id``): the shared core.

    Returns records for the evaluated points plus one row with ``error`` set for each rule whose
    detector failed on this series.
    """
    if points.empty:
        return _empty_core()
    first = points.iloc[0]
    sid, metric, labels = first["series_id"], first["metric"], _labels_dict(first["labels"])
    applied: set[str] = set()
    frames: list[pd.DataFrame] = []
    for rule in rules:
        detector = rule.detector
        if detector.kind in applied or not rule.matches(metric, labels):
            continue
        applied.add(detector.kind)
        identity = {"series_id": sid, "metric": metric, "detector": detector.kind}
        try:
            series = _as_series(points)
            verdict = detector.detect(series, period=rule.period)
            frame = verdict[verdict["score"].notna()].reset_index(names="ts")
        except Exception as err:  # one failing series must not stop the run: record it instead
            frame = pd.DataFrame({"ts": [pd.NaT], "is_anomaly": [False], "error": [f"{type(err).__name__}: {err}"]})
        frame = frame.assign(**identity)
        frame["labels"] = [labels] * len(frame)
        frame["params"] = [detector.params()] * len(frame)
        frames.append(frame.reindex(columns=_CORE_COLUMNS))
    return pd.concat(frames, ignore_index=True) if frames else _empty_core()


def evaluate_chunk(points: pd.DataFrame, rules: Sequence[DetectorRule]) -> pd.DataFrame:
    """:func:`evaluate_series` over every series of ``points`` (the unit of work of a process)."""
    frames = [evaluate_series(group, rules) for _, group in points.groupby("series_id", sort=False)]
    return pd.concat(frames, ignore_index=True) if frames else _empty_core()


def _as_series(points: pd.DataFrame) -> pd.Series:
    ordered = points.sort_values("ts")
    index = pd.DatetimeIndex(ordered["ts"], name=None)
    if index.has_duplicates:
        raise LupusValidationError("ts", f"the series has duplicate timestamps, e.g. {index[index.duplicated()][0]}")
    return pd.Series(ordered["value"].to_numpy(dtype="float64"), index=index)


def _prepare_points(points: Any, datasource: str | None) -> pd.DataFrame:
    if not isinstance(points, pd.DataFrame):
        raise LupusValidationError("points", "must be a pandas DataFrame (or a Spark DataFrame with backend='spark')")
    missing = [c for c in _INPUT_COLUMNS if c not in points.columns]
    if missing:
        raise LupusValidationError("points", f"missing column {missing[0]!r}", value=list(points.columns))
    frame = points.loc[:, [*_INPUT_COLUMNS, *(["series_id"] if "series_id" in points.columns else [])]].copy()
    frame["labels"] = [_labels_dict(v) for v in frame["labels"]]
    if "series_id" not in frame.columns:
        if datasource is None:
            raise LupusValidationError("datasource", "is needed to compute series_id when points have no series_id")
        ids: dict[tuple[str, str], str] = {}
        frame["series_id"] = [
            ids.setdefault((m, _labels_key(lab)), make_series_id(datasource, m, lab))
            for m, lab in zip(frame["metric"], frame["labels"], strict=True)
        ]
    try:
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.as_unit("us")
    except (ValueError, TypeError) as err:
        raise LupusValidationError("points.ts", f"must be timestamps ({err})") from None
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    return frame


def _matching(frame: pd.DataFrame, rules: Sequence[DetectorRule]) -> pd.DataFrame:
    """Only the points of series some rule watches, so workers receive nothing they would skip."""
    firsts = frame.drop_duplicates("series_id")
    watched = {
        sid
        for sid, metric, labels in zip(firsts["series_id"], firsts["metric"], firsts["labels"], strict=True)
        if any(rule.matches(metric, labels) for rule in rules)
    }
    return frame[frame["series_id"].isin(watched)]


def _evaluate_in_processes(
    frame: pd.DataFrame, rules: Sequence[DetectorRule], *, workers: int | None, progress: bool | None
) -> pd.DataFrame:
    workers = workers or os.cpu_count() or 1
    chunks = list(_chunks(frame, workers * _CHUNKS_PER_WORKER))
    total = frame["series_id"].nunique()
    bar = tqdm(total=total, unit="series", desc="detect", disable=None if progress is None else not progress)
    results: list[pd.DataFrame] = []
    with bar:
        if workers == 1 or len(chunks) <= 1:
            for chunk, n_series in chunks:
                results.append(evaluate_chunk(chunk, rules))
                bar.update(n_series)
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
                pending: dict[Future[pd.DataFrame], int] = {
                    pool.submit(evaluate_chunk, chunk, rules): n_series for chunk, n_series in chunks
                }
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        results.append(future.result())
                        bar.update(pending.pop(future))
    return pd.concat(results, ignore_index=True) if results else _empty_core()


def _chunks(frame: pd.DataFrame, count: int) -> Iterator[tuple[pd.DataFrame, int]]:
    """About ``count`` chunks of whole series, of similar point counts (so workers finish together)."""
    ids = frame["series_id"].unique()
    if len(ids) == 0:
        return
    position = pd.Series(np.arange(len(ids)) % count, index=ids)
    assignment = frame["series_id"].map(position).to_numpy()
    for k in range(min(count, len(ids))):
        chunk = frame[assignment == k]
        yield chunk, chunk["series_id"].nunique()


def _split(core: pd.DataFrame, run_id: str | None) -> DetectionResult:
    failed = core["error"].notna()
    records = core[~failed].sort_values(["series_id", "detector", "ts"], kind="stable").reset_index(drop=True)
    records["ts"] = pd.to_datetime(records["ts"], utc=True).dt.as_unit("us")
    records["is_anomaly"] = records["is_anomaly"].astype(bool)
    for column in ("value", "expected", "lower", "upper", "score"):
        records[column] = records[column].astype("float64")
    records["run_id"] = run_id
    errors = core[failed].sort_values(["series_id", "detector"], kind="stable").reset_index(drop=True)
    return DetectionResult(anomalies=records.loc[:, list(RECORD_COLUMNS)], errors=errors.loc[:, list(ERROR_COLUMNS)])


def _empty_core() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in _CORE_COLUMNS})


def _labels_dict(value: Any) -> dict[str, str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {}
    if isinstance(value, str):
        return json.loads(value)
    return dict(value)


def _labels_key(labels: Mapping[str, str]) -> str:
    return json.dumps(sorted(labels.items()))
