"""The staged form of an accepted batch: its validated points as a small Arrow IPC file.

The request path has already parsed and validated the points; staging them in this form
spares the ingest worker parsing the JSON body and validating it again, which was most of
the server's CPU under load. Each series is written once (metric, labels and series id as
JSON in an Arrow dictionary), each point as a series code, a timestamp and a value.

Example:
    >>> import pandas as pd
    >>> points = pd.DataFrame({"metric": ["m", "m"], "labels": [{"k": "a"}, {"k": "a"}], "series_id": ["s1", "s1"],
    ...                        "ts": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True), "value": [1.0, None]})
    >>> back = decode_staged(encode_staged(points))
    >>> back["labels"].tolist(), back["series_id"].tolist(), back["value"].isna().tolist()
    ([{'k': 'a'}, {'k': 'a'}], ['s1', 's1'], [False, True])
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

#: The file suffix (and ``fmt``) of staged batches.
STAGED_FORMAT = "staged"


def encode_staged(points: pd.DataFrame) -> bytes:
    """Arrow IPC bytes of normalized points (``metric, labels, series_id, ts, value``)."""
    codes, _ = pd.factorize(points["series_id"])
    firsts = np.unique(codes, return_index=True)[1]  # the first row of each series, in code order
    metrics, labels = points["metric"].to_numpy(), points["labels"].to_numpy()
    ids = points["series_id"].to_numpy()
    uniques = [json.dumps([metrics[row], labels[row], ids[row]], sort_keys=True) for row in firsts]
    ts = pd.DatetimeIndex(points["ts"]).tz_convert("UTC").as_unit("us")
    table = pa.table({
        "series": pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(uniques, pa.string())),
        "ts": pa.array(ts.asi8, pa.timestamp("us", tz="UTC")),
        "value": pa.array(points["value"].to_numpy(dtype="float64"), pa.float64(), from_pandas=True),
    })  # fmt: skip
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode_staged(data: bytes) -> pd.DataFrame:
    """The normalized points of :func:`encode_staged` bytes (labels as dicts, ts as UTC timestamps)."""
    table = ipc.open_file(pa.BufferReader(data)).read_all().combine_chunks()
    series = table.column("series").chunk(0) if table.num_rows else None
    codes = series.indices.to_numpy(zero_copy_only=False) if series is not None else []
    identities = [json.loads(text) for text in series.dictionary.to_pylist()] if series is not None else []
    return pd.DataFrame({
        "metric": [identities[code][0] for code in codes],
        "labels": [identities[code][1] for code in codes],
        "series_id": [identities[code][2] for code in codes],
        "ts": pd.DatetimeIndex(table.column("ts").to_numpy()).tz_localize("UTC"),
        "value": table.column("value").to_numpy(),
    })  # fmt: skip
