"""Everything the alert sensor of one product needs to know, taken from its spec and its team's routes."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from lupus_dagster.product_spec import ProductSpec
from lupus_dagster.resources.notifier import AlertChannel
from lupus_dagster.resources.routing import Routes, TeamRoute, channel_from_settings
from lupus_metrics.detectors.registry import DetectorRule
from lupus_store.incidents.slices import DEFAULT_ADDITIVE


@dataclass(frozen=True)
class NoDataPolicy:
    keys: tuple[str, ...]
    window_days: int = 14
    min_presence: float = 0.8


@dataclass(frozen=True)
class FreshnessPolicy:
    start: date
    cron: str
    timezone: str
    max_lag_hours: float


@dataclass(frozen=True)
class AlertPolicy:
    """One product's alerting: channels, rules (for naming), grading, resolution, no-data and freshness.

    Example:
        >>> policy = AlertPolicy("shop", "shop-ds", critical=("rows.*",))
        >>> policy.level("anomaly", "rows.count"), policy.level("anomaly", "score.mean"), policy.level("check", None)
        ('critical', 'warning', 'critical')
    """

    product: str
    datasource: str
    team: str | None = None
    routes: Routes = field(default_factory=Routes)
    rules: tuple[DetectorRule, ...] = ()
    critical: tuple[str, ...] = ()
    additive: tuple[str, ...] = DEFAULT_ADDITIVE
    resolve_after_days: int = 3
    notify_on_resolve: bool = False
    no_data: NoDataPolicy | None = None
    freshness: FreshnessPolicy | None = None
    interval_seconds: int = 30

    @classmethod
    def from_spec(cls, spec: ProductSpec, teams: Mapping[str, TeamRoute] | None = None) -> AlertPolicy:
        alerts = spec.alerts
        routes = Routes(
            product=channel_from_settings(alerts.channel_settings()),
            product_severity={
                level: channel for level, channel in
                ((level, channel_from_settings(c.channel_settings())) for level, c in alerts.severity.items())
                if channel is not None
            },
            team=(teams or {}).get(spec.team),
        )  # fmt: skip
        keys = tuple(spec.segment_keys())
        no_data = (
            NoDataPolicy(keys, spec.no_data.window_days, spec.no_data.min_presence)
            if spec.no_data is not None and keys
            else None
        )
        freshness = (
            FreshnessPolicy(spec.partitions.start, spec.partitions.cron, spec.partitions.timezone,
                            spec.freshness.max_lag_hours)
            if spec.freshness is not None
            else None
        )  # fmt: skip
        return cls(
            product=spec.product, datasource=spec.datasource, team=spec.team, routes=routes, rules=tuple(spec.detect),
            critical=tuple(alerts.critical), additive=tuple(alerts.additive),
            resolve_after_days=alerts.resolve_after_days, notify_on_resolve=alerts.notify_on_resolve,
            no_data=no_data, freshness=freshness, interval_seconds=alerts.sensor_interval_seconds,
        )  # fmt: skip

    @classmethod
    def with_channel(cls, product: str, datasource: str, channel: AlertChannel | None) -> AlertPolicy:
        return cls(product, datasource, routes=Routes(product=channel))

    def level(self, kind: str, metric: str | None, check_severity: str | None = None) -> str:
        """``critical`` for failed (ERROR) checks, late partitions, vanished segments and the ``critical``
        metric globs' anomalies; ``warning`` otherwise."""
        if kind == "check":
            return "warning" if check_severity == "WARN" else "critical"
        if kind in ("freshness", "no_data"):
            return "critical"
        return "critical" if metric and any(fnmatch.fnmatchcase(metric, g) for g in self.critical) else "warning"

    def rule_name(self, metric: str, labels: Mapping[str, str], detector: str | None) -> str:
        """``detect[i]`` of the first rule that watches this series with this detector."""
        for index, rule in enumerate(self.rules):
            if rule.matches(metric, dict(labels)) and (detector is None or rule.detector.kind == detector):
                return f"detect[{index}]"
        return f"detector:{detector or 'unknown'}"


def rules_text(rules: Sequence[DetectorRule]) -> dict[str, str]:
    """``detect[i]`` -> a readable description (``window on ranking.ndcg, ranking.recall``)."""
    return {
        f"detect[{i}]": f"{rule.detector.kind} on {', '.join(rule.metrics)}"
        + (f" {{{', '.join(f'{k}={v}' for k, v in rule.labels.items())}}}" if rule.labels else "")
        for i, rule in enumerate(rules)
    }
