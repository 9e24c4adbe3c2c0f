"""The monitored-product spec: what a team writes in `defs/products/<product>/defs.yaml`.

Every field is validated here, before Dagster builds anything, so a mistake is reported with
the file, the field and the reason (see :mod:`lupus_dagster.components.product_loader`).
The full reference with an annotated example is `docs/products.md`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dagster._utils.schedules import is_valid_cron_string
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lupus_metrics.detectors.registry import DetectorRule, rules_from_config
from lupus_metrics.schema import validate_datasource
from lupus_metrics.stats.spec import ProfileSpec

_PRODUCT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
DRIFT_METHODS = ("psi", "js", "ks", "wasserstein", "wasserstein_norm", "chi2")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartitionsSpec(Strict):
    """Daily partitions: one metrics table per day from ``start``, on ``cron`` in ``timezone``.

    A backfill of many days runs ``days_per_run`` of them per Dagster run (metrics day by day,
    the check per day, detection once per run) instead of one run per day.
    """

    start: date = Field(description="First partition day.")
    timezone: str = Field(default="UTC", description="IANA time zone of the partition days, e.g. Asia/Tokyo.")
    cron: str = Field(default="0 6 * * *", description="When the day's metrics are computed (cron, in timezone).")
    days_per_run: int = Field(
        default=366, ge=1, le=3660, description="A backfill runs this many consecutive days per Dagster run."
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Tokyo)") from None
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if not is_valid_cron_string(value):
            raise ValueError(f"{value!r} is not a valid cron expression (e.g. '0 6 * * *')")
        return value


class SourceSpec(Strict):
    """Where a day's data comes from: exactly one of the fields.

    Paths may contain ``{date}`` (the partition day, YYYY-MM-DD) and globs; relative paths are
    resolved against ``LUPUS_DATA_ROOT`` (default ``$LUPUS_HOME/data``).
    """

    parquet: str | None = Field(default=None, description="Parquet path or glob with {date}.")
    csv: str | None = Field(default=None, description="CSV path or glob with {date}.")
    sql: str | None = Field(default=None, description="SQL query with :date as a bind parameter.")
    sql_url_env: str | None = Field(default=None, description="Env var holding the SQLAlchemy URL for `sql`.")
    python: str | None = Field(default=None, description="'module:function' called as function(day) -> DataFrame.")
    spark_table: str | None = Field(default=None, description="Spark table, filtered on `spark_date_column`.")
    spark_date_column: str = Field(default="date", description="The date column of `spark_table`.")

    @model_validator(mode="after")
    def _exactly_one(self) -> SourceSpec:
        kinds = [k for k in ("parquet", "csv", "sql", "python", "spark_table") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of parquet, csv, sql, python, spark_table (got {kinds or 'none'})")
        if self.sql and not self.sql_url_env:
            raise ValueError("`sql` needs `sql_url_env`, the environment variable holding the database URL")
        if self.python and ":" not in self.python:
            raise ValueError("`python` must be 'module:function'")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("parquet", "csv", "sql", "python", "spark_table") if getattr(self, k))


class ClassificationTask(Strict):
    y_true: str
    y_pred: str
    y_score: list[str] | None = Field(default=None, description="Score columns, one per class (binary: one).")
    classes: list[str] | None = None
    group_by: list[str] = Field(default_factory=list)


class RegressionTask(Strict):
    y_true: str
    y_pred: str
    group_by: list[str] = Field(default_factory=list)


class RankingColumns(Strict):
    user: str = "user"
    item: str = "item"
    score: str = "score"


class RelevanceSpec(Strict):
    source: SourceSpec
    columns: dict[Literal["user", "item", "relevance"], str] = Field(default_factory=dict)


class RankingTask(Strict):
    recommendations: RankingColumns = Field(default_factory=RankingColumns)
    relevance: RelevanceSpec
    k: list[int] = Field(default_factory=lambda: [10])
    metrics: list[str] | None = None
    gain: Literal["linear", "exponential"] = "linear"
    no_relevant: Literal["skip", "zero"] = "skip"
    group_by: list[str] = Field(default_factory=list)


class EvaluationTask(Strict):
    """One of ``classification``, ``regression``, ``ranking``."""

    classification: ClassificationTask | None = None
    regression: RegressionTask | None = None
    ranking: RankingTask | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EvaluationTask:
        given = [k for k in ("classification", "regression", "ranking") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of classification, regression, ranking (got {given or 'none'})")
        return self


class DriftSpec(Strict):
    """Compare today's columns with the previous day or a fixed reference window."""

    columns: list[str] = Field(min_length=1)
    against: Literal["previous_day", "reference_window"] = "previous_day"
    reference_start: date | None = None
    reference_end: date | None = None
    methods: list[Literal["psi", "js", "ks", "wasserstein", "wasserstein_norm", "chi2"]] = Field(
        default_factory=lambda: ["psi", "js"]
    )
    group_by: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _window(self) -> DriftSpec:
        if self.against == "reference_window" and not (self.reference_start and self.reference_end):
            raise ValueError("against: reference_window needs reference_start and reference_end")
        return self


class ChurnSpec(Strict):
    """Per-entity prediction change against the previous model version (or the previous day)."""

    key: str
    prediction: str
    version: str | None = Field(default=None, description="Column holding the model version.")
    kind: Literal["label", "score"] | None = None
    group_by: list[str] = Field(default_factory=list)


class CheckRule(Strict):
    """A value range for a metric of the overall group (``min``/``max`` inclusive)."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> CheckRule:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class AlertsSpec(Strict):
    """Where alerts go. Webhook URLs come from environment variables, never from the file."""

    kind: Literal["slack", "webhook", "console", "file"] = "console"
    url_env: str | None = Field(default=None, description="Env var with the webhook URL (slack, webhook).")
    path: str | None = Field(default=None, description="File to append alerts to (file).")
    slack_webhook_env: str | None = Field(default=None, description="Shorthand for kind: slack + url_env.")

    @model_validator(mode="after")
    def _target(self) -> AlertsSpec:
        if self.slack_webhook_env and self.kind == "console":
            object.__setattr__(self, "kind", "slack")
            object.__setattr__(self, "url_env", self.slack_webhook_env)
        if self.kind in ("slack", "webhook") and not self.url_env:
            raise ValueError(f"kind {self.kind} needs url_env, the environment variable holding the webhook URL")
        if self.kind == "file" and not self.path:
            raise ValueError("kind file needs path")
        return self


class FreshnessSpec(Strict):
    max_lag_hours: float = Field(gt=0, description="Alert when the latest partition is older than this.")


class PodResources(Strict):
    """Kubernetes requests (and limits) for this product's steps under the k8s executor."""

    cpu: str | None = None
    memory: str | None = None


class MlflowSpec(Strict):
    experiment: str
    metrics: list[str] | None = Field(default=None, description="Metric keys to import (default: all).")


class ProductSpec(Strict):
    """Everything Lupus needs to monitor one product."""

    product: str = Field(description="Asset key prefix and group name: lowercase letters, digits, '_'.")
    team: str = Field(description="Owning team (asset owners, permissions).")
    datasource: str = Field(description="Datasource the metrics are stored under.")
    description: str | None = None
    partitions: PartitionsSpec
    source: SourceSpec
    profile: ProfileSpec | None = None
    evaluate: list[EvaluationTask] = Field(default_factory=list)
    drift: list[DriftSpec] = Field(default_factory=list)
    churn: ChurnSpec | None = None
    checks: dict[str, CheckRule] = Field(default_factory=dict, description="Metric name (globs allowed) -> range.")
    min_rows: int = Field(default=1, ge=0, description="The day's table must have at least this many rows.")
    detect: list[DetectorRule] = Field(default_factory=list)
    lookback_days: int = Field(default=120, ge=1, description="History the detectors see.")
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)
    freshness: FreshnessSpec | None = None
    resources: PodResources = Field(default_factory=PodResources)
    mlflow: MlflowSpec | None = None

    @field_validator("product")
    @classmethod
    def _product_name(cls, value: str) -> str:
        if not _PRODUCT_NAME.match(value):
            raise ValueError("must be 1-63 characters of a-z, 0-9, '_', starting with a letter")
        return value

    @field_validator("datasource")
    @classmethod
    def _datasource_name(cls, value: str) -> str:
        return validate_datasource(value)

    @field_validator("profile", mode="before")
    @classmethod
    def _profile(cls, value: Any) -> Any:
        return ProfileSpec.model_validate(value) if isinstance(value, dict) else value

    @field_validator("detect", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> Any:
        return rules_from_config(value) if isinstance(value, list) else value
