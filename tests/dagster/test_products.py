"""Product YAML -> asset graph: the demo products load; broken files are reported by file, field and reason."""

import json
from pathlib import Path

import dagster as dg
import pytest
import yaml

from lupus_dagster.components.product_loader import ProductSpecError, read_product
from lupus_dagster.components.product_loader import product_definitions as products_only
from lupus_dagster.resources.shared import shared_resources

PRODUCTS = Path(__file__).resolve().parents[2] / "lupus_dagster" / "defs" / "products"


def product_definitions(root: Path) -> dg.Definitions:
    return dg.Definitions.merge(products_only(root), dg.Definitions(resources=shared_resources()))


def write_product(root: Path, folder: str, attributes: dict) -> Path:
    path = root / folder / "defs.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"type": "lupus_dagster.components.MonitoredProduct", "attributes": attributes}))
    return path


def good_attributes(product: str = "shop", **changes) -> dict:
    attributes = {
        "product": product, "team": "growth", "datasource": product.replace("_", "-"),
        "partitions": {"start": "2026-01-01", "timezone": "Asia/Tokyo", "cron": "0 6 * * *"},
        "source": {"parquet": "shop/date={date}/*.parquet"},
        "profile": {"group_by": ["region"], "columns": {"score": ["mean", "null_rate"]}},
        "checks": {"score.null_rate": {"max": 0.01}},
        "detect": [{"metrics": ["rows.count"], "detector": {"kind": "window", "window": 14}}],
        "resources": {"cpu": "2", "memory": "8Gi"},
    }  # fmt: skip
    attributes.update(changes)
    return attributes


def test_the_demo_products_build_their_asset_graph():
    defs = product_definitions(PRODUCTS)
    graph = defs.resolve_asset_graph()
    for product in ("recommend", "attribute_classifier", "demand_forecaster"):
        metrics = graph.get(dg.AssetKey([product, "metrics"]))
        anomalies = graph.get(dg.AssetKey([product, "anomalies"]))
        assert isinstance(metrics.partitions_def, dg.DailyPartitionsDefinition)
        assert anomalies.parent_keys == {metrics.key}
        assert metrics.group_name == anomalies.group_name == product
        assert metrics.automation_condition is not None and anomalies.automation_condition is not None
        checks = {key.name for key in graph.asset_check_keys if key.asset_key == metrics.key}
        assert {"ge_validation", "freshness_check"} <= checks
    assert {s.name for s in defs.sensors} >= {"recommend_alerts", "attribute_classifier_alerts"}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in defs.sensors)


def test_owners_kinds_and_pod_resources_come_from_the_spec(tmp_path):
    write_product(tmp_path, "shop", good_attributes())
    metrics = product_definitions(tmp_path).resolve_asset_graph().get(dg.AssetKey(["shop", "metrics"]))
    assert metrics.owners == ["team:growth"]
    assert {"duckdb", "parquet"} <= set(metrics.kinds)
    assert metrics.partitions_def.timezone == "Asia/Tokyo"
    assets_def = product_definitions(tmp_path).get_assets_def(dg.AssetKey(["shop", "metrics"]))
    config = assets_def.op.tags["dagster-k8s/config"]
    resources = (json.loads(config) if isinstance(config, str) else config)["container_config"]["resources"]
    assert resources["requests"] == {"cpu": "2", "memory": "8Gi"}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"colour": "blue"}, "colour", "Extra inputs are not permitted"),
        ({"lookback_days": "many"}, "lookback_days", "valid integer"),
        ({"partitions": {"start": "2026-01-01", "cron": "every day"}}, "partitions.cron", "not a valid cron"),
        ({"detect": [{"metrics": ["x"], "detector": {"kind": "magic"}}]}, "detect", "detector.kind: must be one of"),
        ({"profile": {"columns": {"score": ["topk:x"]}}}, "profile", "topk"),
        ({"datasource": "Bad Name"}, "datasource", "datasource"),
    ],
    ids=["unknown field", "wrong type", "bad cron", "unknown detector", "malformed stat", "bad datasource"],
)
def test_a_broken_spec_is_reported_with_file_field_and_reason(tmp_path, change, field, reason):
    path = write_product(tmp_path, "shop", good_attributes(**change))
    with pytest.raises(ProductSpecError) as error:
        read_product(path)
    message = str(error.value)
    assert message.startswith(f"{path}: {field}") and reason in message


def test_one_broken_product_does_not_hide_the_others(tmp_path):
    write_product(tmp_path, "good", good_attributes("good"))
    broken = write_product(
        tmp_path, "broken", good_attributes("broken", partitions={"start": "2026-01-01", "cron": "x"})
    )
    defs = product_definitions(tmp_path)
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert dg.AssetKey(["good", "metrics"]) in keys
    error_asset = defs.resolve_asset_graph().get(dg.AssetKey(["broken", "spec_error"]))
    assert str(broken) in error_asset.description and "partitions.cron" in error_asset.description


def test_validation_mode_fails_on_a_broken_product(tmp_path, monkeypatch):
    write_product(tmp_path, "good", good_attributes("good"))
    write_product(tmp_path, "broken", good_attributes("broken", colour="blue"))
    monkeypatch.setenv("DAGSTER_IS_DEFS_VALIDATION_CLI", "1")
    with pytest.raises(ProductSpecError, match=r"broken/defs.yaml: colour: Extra inputs"):
        product_definitions(tmp_path)


def test_validation_mode_names_an_unknown_column_when_a_source_file_exists(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.setenv("LUPUS_DATA_ROOT", str(tmp_path / "data"))
    (tmp_path / "data/shop/date=2026-01-01").mkdir(parents=True)
    pd.DataFrame({"region": ["JP"], "scor": [0.5]}).to_parquet(tmp_path / "data/shop/date=2026-01-01/part.parquet")
    path = write_product(tmp_path / "products", "shop", good_attributes())
    monkeypatch.setenv("DAGSTER_IS_DEFS_VALIDATION_CLI", "1")
    with pytest.raises(ProductSpecError, match=r"profile.columns: unknown column 'score'"):
        read_product(path, check_columns=True)
