"""Batches pushed through the API reach the index too: the ingest worker writes through the index-backed store."""

from __future__ import annotations

import json

from api.live_server import seed

from lupus_api.ingest import Ingestor, payload_digest
from lupus_api.payloads import parse_batch
from lupus_api.staged import STAGED_FORMAT, encode_staged
from lupus_metrics.frames import NormalizedPoints
from lupus_store.metadata import MetadataDB


def test_an_ingested_group_of_pushed_batches_is_in_the_parquet_store_and_the_index(indexed_store, tmp_path):
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    seed(url)
    ingestor = Ingestor(MetadataDB(url), indexed_store, tmp_path / "staging")
    ids = []
    for batch in range(3):  # two days, so the group is written as two files
        body = json.dumps({"points": [
            {"metric": "rows.count", "labels": {"region": region}, "ts": f"2026-01-0{1 + batch % 2}T0{batch}:00:00Z",
             "value": float(batch)} for region in ("JP", "US")]}).encode()  # fmt: skip
        points = NormalizedPoints.from_frame(parse_batch(body, "json"), "ds-a")
        ids.append(ingestor.stage("ds-a", encode_staged(points), STAGED_FORMAT, points=len(points), idempotency_key=None,
                                  payload_sha256=payload_digest(body), token_id=None).batch_id)  # fmt: skip
    ingestor.ingest_many(ids)
    parquet = indexed_store.store.read_points("ds-a").sort_values(["ts", "series_id"]).reset_index(drop=True)
    indexed = indexed_store.read_points("ds-a").sort_values(["ts", "series_id"]).reset_index(drop=True)
    assert len(parquet) == 6
    assert parquet[["metric", "series_id", "ts", "value"]].equals(indexed[["metric", "series_id", "ts", "value"]])
    assert indexed["labels"].tolist() == parquet["labels"].tolist()
