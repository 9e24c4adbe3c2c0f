"""Every kind of product source loads one partition day: files, SQL, a Python callable, a Spark table."""

from datetime import date

import pandas as pd
import pytest
import sqlalchemy

from lupus_dagster.assets.sources import SourceMissingError, load_source
from lupus_dagster.product_spec import SourceSpec
from lupus_dagster.resources.executor import executor_from_env

DAY = date(2026, 2, 3)
ROWS = pd.DataFrame({"day": ["2026-02-02", "2026-02-03", "2026-02-03"], "value": [1.0, 2.0, 3.0]})


def the_day(day: date) -> pd.DataFrame:
    """A source callable for the test (referenced as 'module:function')."""
    return ROWS[ROWS["day"] == day.isoformat()].reset_index(drop=True)


def test_csv_files_with_a_date_placeholder_relative_to_the_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("LUPUS_DATA_ROOT", str(tmp_path))
    (tmp_path / "t" / f"date={DAY}").mkdir(parents=True)
    the_day(DAY).to_csv(tmp_path / "t" / f"date={DAY}" / "a.csv", index=False)
    frame = load_source(SourceSpec(csv="t/date={date}/*.csv"), DAY)
    assert frame["value"].tolist() == [2.0, 3.0]


def test_a_missing_file_names_the_path_it_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("LUPUS_DATA_ROOT", str(tmp_path))
    with pytest.raises(SourceMissingError, match=f"no file matches {tmp_path}/t/date={DAY}"):
        load_source(SourceSpec(parquet="t/date={date}/*.parquet"), DAY)


def test_a_sql_query_through_sqlalchemy_gets_the_day_bound(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'source.db'}"
    ROWS.to_sql("facts", sqlalchemy.create_engine(url), index=False)
    monkeypatch.setenv("SHOP_DB_URL", url)
    frame = load_source(SourceSpec(sql="SELECT value FROM facts WHERE day = :date", sql_url_env="SHOP_DB_URL"), DAY)
    assert frame["value"].tolist() == [2.0, 3.0]


def test_a_sql_source_without_its_url_variable_says_which_variable(monkeypatch):
    monkeypatch.delenv("SHOP_DB_URL", raising=False)
    with pytest.raises(SourceMissingError, match="SHOP_DB_URL"):
        load_source(SourceSpec(sql="SELECT 1", sql_url_env="SHOP_DB_URL"), DAY)


def test_a_python_callable_gets_the_day():
    frame = load_source(SourceSpec(python=f"{__name__}:the_day"), DAY)
    assert frame["value"].tolist() == [2.0, 3.0]


@pytest.mark.spark
def test_a_spark_table_is_filtered_on_its_date_column(spark):
    spark.createDataFrame(ROWS.assign(day=pd.to_datetime(ROWS["day"]).dt.date)).createOrReplaceTempView("facts")
    frame = load_source(SourceSpec(spark_table="facts", spark_date_column="day"), DAY, spark=spark)
    assert sorted(r["value"] for r in frame.collect()) == [2.0, 3.0]


def test_the_executor_is_chosen_by_configuration(monkeypatch):
    monkeypatch.setenv("LUPUS_EXECUTOR", "k8s")
    assert executor_from_env().name == "k8s"
    monkeypatch.setenv("LUPUS_EXECUTOR", "threads")
    with pytest.raises(ValueError, match="LUPUS_EXECUTOR must be"):
        executor_from_env()
