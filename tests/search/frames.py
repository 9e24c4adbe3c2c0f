"""Comparing frames of the Parquet store and of the index."""

from __future__ import annotations

import pandas as pd


def assert_same_frame(parquet: pd.DataFrame, index: pd.DataFrame) -> None:
    """Same columns, dtypes, rows and order.

    One allowance: an empty *filtered* read of MetricStore types its ``labels`` column float64
    (a quirk of the store, reported upstream); the index always types it object.
    """
    if parquet.empty and index.empty and "labels" in parquet.columns and parquet["labels"].dtype == "float64":
        parquet = parquet.astype({"labels": "object"})
    pd.testing.assert_frame_equal(parquet.reset_index(drop=True), index.reset_index(drop=True))
