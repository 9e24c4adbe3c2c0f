"""With LUPUS_SEARCH_URL set, the API, the app and the Dagster assets all get the index-backed store."""

from __future__ import annotations

from lupus_api.app import build_state
from lupus_api.settings import Settings
from lupus_dagster.resources.store import MetricStoreResource
from lupus_store import MetricStore
from lupus_store.search import IndexedMetricStore


def configure(monkeypatch, tmp_path, url: str | None) -> None:
    monkeypatch.setenv("LUPUS_HOME", str(tmp_path))
    monkeypatch.setenv("LUPUS_STORE", str(tmp_path / "store"))
    if url:
        monkeypatch.setenv("LUPUS_SEARCH_URL", url)
    else:
        monkeypatch.delenv("LUPUS_SEARCH_URL", raising=False)


def front_door_stores(tmp_path):
    from streamlit_app.queries import _store

    api = build_state(Settings.from_env()).store
    app = _store.__wrapped__(str(tmp_path / "store"))
    assets = MetricStoreResource().get_store()
    return api, app, assets


def test_every_front_door_uses_the_index_when_configured(monkeypatch, tmp_path):
    configure(monkeypatch, tmp_path, "http://127.0.0.1:9")
    assert all(isinstance(s, IndexedMetricStore) for s in front_door_stores(tmp_path))


def test_every_front_door_uses_parquet_alone_by_default(monkeypatch, tmp_path):
    configure(monkeypatch, tmp_path, None)
    assert all(type(s) is MetricStore for s in front_door_stores(tmp_path))
