"""The staged form of an accepted batch: its validated points as a small Arrow IPC file.

The request path has already parsed and validated the points; staging them in this form
spares the ingest worker parsing the JSON body and validating it again, which was most of
the server's CPU under load. Each series is written once (metric, labels and series id as
JSON in an Arrow dictionary), each point as a series code, a timestamp and a value (plus ``n``
and ``stderr`` when the batch has them).

Example:
    >>> points = NormalizedPoints.from_columns("ds", ["m", "m"], [{"k": "a"}, {"k": "a"}],
    ...                                        ts=np.array([0, 86_400_000_000]), values=np.array([1.0, np.nan]))
    >>> back = decode_staged(encode_staged(points)).to_frame()
    >>> back["labels"].tolist(), back["series_id"].nunique(), back["value"].isna().tolist()
    ([{'k': 'a'}, {'k': 'a'}], 1, [False, True])
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from lupus_metrics.frames import NormalizedPoints, SeriesIdentity

#: The file suffix (and ``fmt``) of staged batches.
STAGED_FORMAT = "staged"


def encode_staged(points: NormalizedPoints) -> bytes:
    """Arrow IPC bytes of validated points."""
    uniques = [json.dumps([s.metric, s.labels, s.series_id], sort_keys=True) for s in points.series]
    table = pa.table({
        "series": pa.DictionaryArray.from_arrays(pa.array(points.codes, pa.int32()), pa.array(uniques, pa.string())),
        "ts": pa.array(points.ts, pa.timestamp("us", tz="UTC")),
        "value": pa.array(points.values, pa.float64(), from_pandas=True),
        **{c: pa.array(v, pa.float64(), from_pandas=True) for c, v in (("n", points.n), ("stderr", points.stderr))
           if v is not None},
    })  # fmt: skip
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode_staged(data: bytes) -> NormalizedPoints:
    """The validated points of :func:`encode_staged` bytes."""
    table = ipc.open_file(pa.BufferReader(data)).read_all().combine_chunks()
    if not table.num_rows:
        return NormalizedPoints.concat([])
    series = table.column("series").chunk(0)
    identities = [SeriesIdentity(*json.loads(text)) for text in series.dictionary.to_pylist()]
    return NormalizedPoints(
        identities,
        series.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False),
        table.column("ts").chunk(0).cast(pa.int64()).to_numpy(zero_copy_only=False),
        table.column("value").to_numpy(),
        *(table.column(c).to_numpy() if c in table.column_names else None for c in ("n", "stderr")),
    )
