"""Which alerts belong to one incident (pure: no database, no store).

Two alerts of one product are **related** when

- they watch the same metric family (the name up to the first dot: ``ranking.recall`` and
  ``ranking.ndcg``; ``score.mean`` and ``score.null_rate``; ``churn.rate`` and
  ``churn.rate{region=JP}``), or
- they watch the same segment, one's labels nested in the other's (``score.mean{region=JP}``
  and ``ranking.ndcg{region=JP, k=10}``; never through the overall group, which every series
  would share), or
- one is a failed check and the other a metric the check concerns (``ge_validation`` failing
  on ``rows.count`` and an anomaly of ``rows.count``), or both are failed checks (both say the
  same partition is bad), or both are freshness alerts, or
- one is a no-data alert for a segment and the other a series of that segment or of a
  coarser grouping (a vanished ``platform=android`` moves the overall series).

Alerts of one day form one incident per connected group of related alerts; an alert related
to a member of an open incident joins that incident instead ("continuing days attach").
:func:`assign` does both for one product and day.

Example:
    >>> recall = AlertKey("anomaly", "ranking.recall", {"region": "JP"})
    >>> ndcg = AlertKey("anomaly", "ranking.ndcg", {})
    >>> rows = AlertKey("anomaly", "rows.count", {})
    >>> related(recall, ndcg), related(ndcg, rows)
    (True, False)
    >>> assign({}, [recall, ndcg, rows])
    [Assignment(incident=None, group=0), Assignment(incident=None, group=0), Assignment(incident=None, group=1)]
    >>> assign({7: [ndcg]}, [recall, rows])
    [Assignment(incident=7, group=None), Assignment(incident=None, group=0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AlertKey:
    """What grouping needs to know of an alert: its kind, metric, labels and (checks) the metrics it concerns."""

    kind: str
    metric: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    concerns: tuple[str, ...] = ()

    def identity(self) -> tuple:
        return (self.kind, self.metric, tuple(sorted(self.labels.items())), tuple(sorted(self.concerns)))


@dataclass(frozen=True)
class Assignment:
    """Where one new alert goes: an existing ``incident`` id, or the new incident number ``group`` of this call."""

    incident: int | None
    group: int | None


def family(metric: str | None) -> str | None:
    """The metric family: the name up to the first dot.

    >>> family("ranking.ndcg"), family("rows.count"), family("churn"), family(None)
    ('ranking', 'rows', 'churn', None)
    """
    return metric.split(".", 1)[0] if metric else None


def related(a: AlertKey, b: AlertKey) -> bool:
    """Whether two alerts of the same product and period describe one problem (module docstring)."""
    if a.kind == "freshness" or b.kind == "freshness":
        return a.kind == b.kind
    if a.kind == "check" or b.kind == "check":
        if a.kind == b.kind:
            return True
        check, other = (a, b) if a.kind == "check" else (b, a)
        return other.metric is not None and other.metric in check.concerns
    if a.kind == "no_data" or b.kind == "no_data":
        if a.kind == b.kind:
            return _nested(a.labels, b.labels)
        gap, other = (a, b) if a.kind == "no_data" else (b, a)
        # A vanished segment moves its own series and every coarser grouping's.
        return _subset(other.labels, gap.labels) or _subset(gap.labels, other.labels)
    if family(a.metric) == family(b.metric):
        return True
    return bool(a.labels) and bool(b.labels) and _nested(a.labels, b.labels)


def assign(open_incidents: Mapping[int, Sequence[AlertKey]], new: Sequence[AlertKey]) -> list[Assignment]:
    """Place each of ``new`` (alerts of one product and day) in an open incident or a new group.

    Related alerts are joined transitively; a group that touches an open incident joins the
    oldest (smallest id) incident it touches. New groups are numbered from 0 in order of
    their first alert.
    """
    nodes: list[AlertKey] = []
    index: dict[tuple, int] = {}
    owners: dict[int, set[int]] = {}

    def node(key: AlertKey) -> int:
        # Alerts with the same kind, metric and labels relate alike: one node for all of them.
        identity = key.identity()
        if identity not in index:
            index[identity] = len(nodes)
            nodes.append(key)
        return index[identity]

    for incident, members in sorted(open_incidents.items()):
        for member in members:
            owners.setdefault(node(member), set()).add(incident)
    new_nodes = [node(key) for key in new]
    parent = list(range(len(nodes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    fresh = sorted(set(new_nodes))
    for position, i in enumerate(fresh):
        # New alerts join with each other and with incident members; members of two open
        # incidents are never compared with each other, so open incidents are not merged.
        for j in [*fresh[position + 1 :], *owners]:
            if j != i and root(i) != root(j) and related(nodes[i], nodes[j]):
                parent[root(j)] = root(i)
    incident_of_root: dict[int, int] = {}
    for member, incidents in owners.items():
        component = root(member)
        incident_of_root[component] = min(incident_of_root.get(component, min(incidents)), min(incidents))
    groups: dict[int, int] = {}
    out = []
    for i in new_nodes:
        component = root(i)
        if component in incident_of_root:
            out.append(Assignment(incident=incident_of_root[component], group=None))
        else:
            out.append(Assignment(incident=None, group=groups.setdefault(component, len(groups))))
    return out


def _subset(small: Mapping[str, str], big: Mapping[str, str]) -> bool:
    return all(big.get(key) == value for key, value in small.items())


def _nested(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    return _subset(a, b) or _subset(b, a)
