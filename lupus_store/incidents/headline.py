"""An incident's headline: what broke, by how much, on which day, and what explains it (pure).

The lead alert is, in order: a failed check, a late partition, a vanished segment, else the
anomaly a root-cause analysis names (the top slice of an aggregate member, when that slice is
itself a member), else the strongest anomaly.

Example:
    >>> from datetime import date
    >>> jp = Alert(kind="anomaly", metric="ranking.recall", labels={"region": "JP"}, value=0.18,
    ...            expected=0.63, score=-9.0)
    >>> overall = Alert(kind="anomaly", metric="ranking.recall", value=0.48, expected=0.63, score=-12.0,
    ...                 root_cause={"kind": "ratio", "actual": 0.48, "expected": 0.63, "weights": "n", "leaves": 3,
    ...                             "slices": [{"labels": {"region": "JP"}, "share": 0.92, "effect": "rate",
    ...                                         "actual": 0.18, "expected": 0.63, "score": 0.9, "surprise": 0.1}]})
    >>> ndcg = Alert(kind="anomaly", metric="ranking.ndcg", labels={"region": "JP"}, value=0.2, expected=0.5, score=-8.0)
    >>> print(headline("recommend", date(2026, 10, 30), [overall, jp, ndcg]))
    recommend: ranking.recall for region=JP 0.18 vs 0.63 expected (−71 %) on 2026-10-30; region=JP explains 92 % of the ranking.recall drop; 2 related series
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from lupus_store.incidents.alert import Alert, number

KIND_ORDER = {"check": 0, "freshness": 1, "no_data": 2, "anomaly": 3}


def lead_alert(alerts: Sequence[Alert]) -> Alert:
    """The alert an incident is named after (see the module docstring)."""
    if not alerts:
        raise ValueError("an incident has at least one alert")
    first_kind = min(KIND_ORDER.get(alert.kind, 9) for alert in alerts)
    candidates = [alert for alert in alerts if KIND_ORDER.get(alert.kind, 9) == first_kind]
    if candidates[0].kind == "anomaly":
        named = _named_by_root_cause(candidates)
        if named is not None:
            return named
    return max(candidates, key=_strength)


def headline(product: str, day: date, alerts: Sequence[Alert]) -> str:
    """``<product>: <lead in words> on <day>[; <top slice explains …>][; N related series]``."""
    lead = lead_alert(alerts)
    parts = [f"{product}: {describe(lead)} on {day.isoformat()}"]
    explanation = _root_cause_text(alerts)
    if explanation:
        parts.append(explanation)
    others = len(alerts) - 1
    if others:
        parts.append(
            f"{others} related {'series' if lead.kind == 'anomaly' else 'alert' + ('s' if others > 1 else '')}"
        )
    return "; ".join(parts)


def describe(alert: Alert) -> str:
    """One alert in words, e.g. ``ranking.recall for region=JP 0.18 vs 0.63 expected (−71 %)``.

    >>> describe(Alert(kind="check", metric=None, check="ge_validation", detail="rows.count: observed 700, min 1500"))
    'check ge_validation failed (rows.count: observed 700, min 1500)'
    """
    if alert.kind == "anomaly":
        where = f" for {_segment(alert.labels)}" if alert.labels else ""
        change = alert.relative_change
        percent = f" ({_signed_percent(change)})" if change is not None else ""
        return f"{alert.metric}{where} {number(alert.value)} vs {number(alert.expected)} expected{percent}"
    if alert.kind == "check":
        detail = f" ({alert.detail})" if alert.detail else ""
        return f"check {alert.check or alert.metric} failed{detail}"
    if alert.kind == "freshness":
        return alert.detail or f"partition late ({alert.check or 'freshness'})"
    return f"no data for {_segment(alert.labels) or 'the product'}" + (f" ({alert.detail})" if alert.detail else "")


def _named_by_root_cause(anomalies: Sequence[Alert]) -> Alert | None:
    for aggregate in sorted(anomalies, key=_strength, reverse=True):
        slices = (aggregate.root_cause or {}).get("slices") or []
        if not slices:
            continue
        top = {**aggregate.labels, **slices[0]["labels"]}
        for alert in sorted(anomalies, key=_strength, reverse=True):
            if alert.metric == aggregate.metric and alert.labels == top:
                return alert
    return None


def _root_cause_text(alerts: Sequence[Alert]) -> str | None:
    explained = [alert for alert in alerts if alert.kind == "anomaly" and (alert.root_cause or {}).get("slices")]
    if not explained:
        return None
    aggregate = max(explained, key=_strength)
    cause = aggregate.root_cause or {}
    top = cause["slices"][0]
    direction = "drop" if (cause.get("actual") or 0) < (cause.get("expected") or 0) else "rise"
    whole = f"{aggregate.metric}{' for ' + _segment(aggregate.labels) if aggregate.labels else ''}"
    mix = " (through its share of users)" if top.get("effect") == "mix" else ""
    return f"{_segment(top['labels'])} explains {top['share'] * 100:.0f} % of the {whole} {direction}{mix}"


def _strength(alert: Alert) -> float:
    return abs(alert.score) if alert.score is not None else 0.0


def _segment(labels: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(labels.items()))


def _signed_percent(change: float) -> str:
    # A real minus sign: the headline is read by people, and "-71 %" wraps badly in chat clients.
    value = round(change * 100)
    return f"{'−' if value < 0 else '+'}{abs(value)} %"
