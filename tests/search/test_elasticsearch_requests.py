"""The Elasticsearch backend sends the shared request bodies, with Elasticsearch's media types.

These run against a local HTTP receiver because no Elasticsearch cluster is reachable here; with
LUPUS_TEST_ELASTICSEARCH_URL set, the parity and fault suites also run on a real cluster.
"""

from __future__ import annotations

import pytest

from lupus_metrics.frames import normalize_points
from lupus_store.search import BulkSender, ElasticsearchBackend, IndexedMetricStore, SearchIndex
from lupus_store.search.bodies import Filters, bulk_lines, replace_delete_body, search_body
from lupus_store.search.documents import documents, source_fields
from lupus_store.search.mappings import index_template

from .frames import assert_same_frame
from .http_receiver import HttpReceiver, default_responder
from .sample_data import DATASOURCE, days, points_of_day

DAY = days()[0]
JSON = "application/vnd.elasticsearch+json; compatible-with=9"
NDJSON = "application/vnd.elasticsearch+x-ndjson; compatible-with=9"


@pytest.fixture
def receiver():
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


def es_index(receiver: HttpReceiver, **options) -> SearchIndex:
    sender = BulkSender(None, sleep=lambda seconds: None)
    return SearchIndex(ElasticsearchBackend(receiver.url), prefix="lupus", sender=sender, **options)


def sample_docs():
    frame = normalize_points(points_of_day(DAY), DATASOURCE)
    frame["source"], frame["run_id"], frame["seq"] = "asset", None, 0
    return documents("points", DATASOURCE, frame, day=DAY.isoformat(), writer="metrics", generation="g")


def test_templates_declare_labels_as_flattened(receiver):
    es_index(receiver).ensure_templates()
    put = receiver.find("PUT", "/_index_template/lupus-points")[0]
    assert put.json() == index_template("lupus", "points", labels_type="flattened")
    assert put.headers["content-type"] == JSON


def test_a_tee_write_sends_the_shared_bulk_lines_then_deletes_the_writers_older_rows(
    receiver, parquet_store, retry_queue
):
    store = IndexedMetricStore(parquet_store, es_index(receiver), retry_queue)
    result = store.write_points(DATASOURCE, points_of_day(DAY), day=DAY, writer="metrics", source="asset")
    assert result.indexed
    bulk = receiver.find("POST", "/_bulk")[0]
    assert bulk.headers["content-type"] == NDJSON
    sent = bulk.body.decode().splitlines()
    generation, seq = bulk.ndjson()[1]["generation"], bulk.ndjson()[1]["seq"]
    assert all(doc["seq"] == seq and doc["superseded"] is False for doc in bulk.ndjson()[1::2])
    expected = [{**d, "generation": generation, "seq": seq} for d in sample_docs()]
    assert sent == bulk_lines(expected, store.index.index_of("points", DATASOURCE))
    assert {line["index"]["_index"] for line in bulk.ndjson()[::2]} == {"lupus-points-shop-2025"}
    delete = receiver.find("POST", "/lupus-points-shop-*/_delete_by_query")[0]
    assert delete.json() == replace_delete_body(
        DATASOURCE, writer="metrics", day=DAY.isoformat(), keep_generation=generation
    )
    assert delete.query["conflicts"] == ["proceed"]


def test_a_read_sends_the_shared_search_body_and_builds_the_stores_frame(receiver, parquet_store):
    parquet_store.write_points(DATASOURCE, points_of_day(DAY), day=DAY, writer="metrics")
    docs = sorted(sample_docs(), key=lambda d: (d["metric"], d["series_id"], d["ts_us"]))
    fields = source_fields("points")

    def respond(request):
        if request.path.endswith("/_search"):
            return 200, {"hits": {"hits": [{"_source": {k: d[k] for k in fields}, "sort": [d["_id"]]} for d in docs]}}
        return default_responder(request)

    receiver.responder = respond
    index = es_index(receiver, page_size=100)
    frame = index.read_points(DATASOURCE, labels={"region": "JP"})
    search = receiver.find("POST", "/lupus-points-shop-*/_search")[0]
    assert search.json() == search_body(
        Filters(datasource=DATASOURCE, labels={"region": "JP"}), table="points", size=100, fields=fields
    )
    assert search.headers["accept"] == JSON
    # The canned answer holds every document (the receiver does not filter): same frame as the store unfiltered.
    assert_same_frame(parquet_store.read_points(DATASOURCE), frame)


def test_a_throttled_document_is_resent_alone_after_a_backoff(receiver):
    calls = []

    def respond(request):
        if request.path == "/_bulk":
            actions = request.ndjson()[::2]
            calls.append([a["index"]["_id"] for a in actions])
            status = [429 if len(calls) == 1 and i == 0 else 201 for i in range(len(actions))]
            items = [{"index": {"_index": a["index"]["_index"], "_id": a["index"]["_id"], "status": s,
                                **({"error": {"type": "es_rejected_execution_exception", "reason": "queue full"}} if s == 429 else {})}}
                     for a, s in zip(actions, status, strict=True)]  # fmt: skip
            return 200, {"errors": True, "items": items}
        return default_responder(request)

    receiver.responder = respond
    docs = sample_docs()
    sleeps = []
    sender = BulkSender(ElasticsearchBackend(receiver.url), sleep=sleeps.append)
    report = sender.send(docs, lambda doc: "lupus-points-shop-2025")
    assert (report.indexed, report.failures, report.retries) == (12, [], 1)
    assert calls[1] == [docs[0]["_id"]] and sleeps == [0.5]


def test_a_document_still_throttled_after_the_last_retry_is_reported(receiver):
    def respond(request):
        if request.path == "/_bulk":
            a = request.ndjson()[0]
            return 200, {
                "errors": True,
                "items": [{"index": {"_index": a["index"]["_index"], "_id": a["index"]["_id"], "status": 429}}],
            }
        return default_responder(request)

    receiver.responder = respond
    sender = BulkSender(ElasticsearchBackend(receiver.url), max_retries=2, sleep=lambda s: None)
    report = sender.send(sample_docs()[:1], lambda doc: "i")
    assert report.indexed == 0 and [f.status for f in report.failures] == [429] and report.retries == 2


def test_an_unreachable_cluster_queues_the_write_and_keeps_parquet(receiver, parquet_store, retry_queue):
    index = es_index(receiver)
    receiver.close()
    store = IndexedMetricStore(parquet_store, index, retry_queue)
    result = store.write_points(DATASOURCE, points_of_day(DAY), day=DAY, writer="metrics")
    assert result.rows == 12 and result.queued and "Elasticsearch unreachable" in result.error
    assert len(parquet_store.read_points(DATASOURCE)) == 12 and len(retry_queue) == 1
