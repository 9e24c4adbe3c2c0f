"""Input checks shared by the evaluation functions: one place for the rules, messages naming the argument."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError


def as_vector(values: object, name: str) -> np.ndarray:
    """``values`` as a non-empty 1-D array without missing entries.

    >>> as_vector([1, 2], "y_true").tolist()
    [1, 2]
    """
    if isinstance(values, pd.DataFrame):
        raise LupusValidationError(name, "must be one-dimensional (a list, array or Series)")
    array = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if array.ndim != 1:
        raise LupusValidationError(name, "must be one-dimensional", value=array.shape)
    if array.size == 0:
        raise LupusValidationError(name, "must not be empty")
    missing = pd.isna(array)
    if missing.any():
        raise LupusValidationError(name, "must not contain missing values", row=int(np.flatnonzero(missing)[0]))
    return array


def as_float_vector(values: object, name: str) -> np.ndarray:
    """``values`` as a non-empty 1-D array of finite floats.

    >>> as_float_vector([1, 2.5], "y_pred").tolist()
    [1.0, 2.5]
    """
    array = as_vector(values, name)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.number) or array.dtype == object):
        raise LupusValidationError(name, "must be numeric", value=str(array.dtype))
    try:
        floats = array.astype(np.float64)
    except (TypeError, ValueError):
        raise LupusValidationError(name, "must be numeric") from None
    bad = ~np.isfinite(floats)
    if bad.any():
        raise LupusValidationError(name, "must be finite", row=int(np.flatnonzero(bad)[0]), value=floats[bad][0])
    return floats


def same_length(first: np.ndarray, second: np.ndarray, names: tuple[str, str]) -> None:
    """Raise unless both arrays have as many rows."""
    if len(first) != len(second):
        raise LupusValidationError(names[1], f"must have as many rows as {names[0]} ({len(first)})", value=len(second))


def groups_frame(group_by: object, n_rows: int) -> pd.DataFrame:
    """``group_by`` (a named Series or a DataFrame aligned by position with the rows) as a DataFrame.

    ``None`` gives a frame with no columns (no grouping).
    """
    if group_by is None:
        return pd.DataFrame(index=pd.RangeIndex(n_rows))
    if isinstance(group_by, pd.Series):
        if group_by.name is None:
            raise LupusValidationError("group_by", "a Series must have a name (it becomes the label key)")
        group_by = group_by.to_frame()
    if not isinstance(group_by, pd.DataFrame):
        raise LupusValidationError("group_by", "must be a named pandas Series or a DataFrame of group columns")
    if len(group_by) != n_rows:
        raise LupusValidationError("group_by", f"must have one row per input row ({n_rows})", value=len(group_by))
    if not all(isinstance(c, str) for c in group_by.columns):
        raise LupusValidationError("group_by", "column names must be strings (they become label keys)")
    return group_by.reset_index(drop=True)
