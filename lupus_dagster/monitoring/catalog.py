"""Which assets a selection string names, across every code location of the instance.

The Lupus code location only knows its own definitions; groups, tags, kinds and owners of other
code locations' assets are known to the Dagster webserver, which serves all of them. With
``LUPUS_DAGSTER_URL`` set (e.g. ``http://127.0.0.1:3000``) the catalog is the webserver's asset
nodes (GraphQL); without it, this code location's assets plus the asset keys the instance has
events for (enough for ``key:`` selections, not for ``group:``/``tag:`` of other locations).
The catalog becomes a throw-away asset graph so that Dagster's own selection grammar
(``group:``, ``tag:``, ``kind:``, ``owner:``, ``key:``, ``+``, ``and``/``or``/``not``) resolves it.

Example:
    >>> nodes = [{"assetKey": {"path": ["wh", "orders"]}, "groupName": "warehouse", "tags": [], "kinds": [],
    ...           "owners": [], "dependencyKeys": []},
    ...          {"assetKey": {"path": ["wh", "users"]}, "groupName": "crm", "tags": [{"key": "tier", "value": "gold"}],
    ...           "kinds": [], "owners": [], "dependencyKeys": []}]
    >>> sorted(k.to_user_string() for k in resolve_selection("group:warehouse or tag:tier=gold", nodes))
    ['wh/orders', 'wh/users']
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dagster as dg
import httpx

CATALOG_QUERY = """
{ assetNodes { assetKey { path } groupName tags { key value } kinds dependencyKeys { path }
  owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } } } }"""


class CatalogError(RuntimeError):
    """The asset catalog could not be read (the message says from where and why)."""


def parse_selection(selection: str) -> dg.AssetSelection:
    """Dagster's selection grammar; raises ``ValueError`` naming the problem for a bad string.

    >>> parse_selection("group:warehouse and tag:tier=gold") is not None
    True
    >>> parse_selection("group:")
    Traceback (most recent call last):
    ...
    ValueError: not a Dagster asset selection: 'group:'
    """
    try:
        return dg.AssetSelection.from_string(selection)
    except Exception:
        raise ValueError(f"not a Dagster asset selection: {selection!r}") from None


def resolve_selection(selection: str, nodes: Sequence[Mapping[str, Any]]) -> set[dg.AssetKey]:
    """The keys of ``nodes`` (GraphQL asset nodes, or the same shape) that ``selection`` names."""
    if not nodes:
        return set()
    specs = [_spec(node) for node in nodes]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A materializable stand-in: group and tag selections skip external (source-like) assets.
        catalog = dg.multi_asset(specs=specs, can_subset=True, name="lupus_catalog")(lambda: None)
        graph = dg.Definitions(assets=[catalog]).resolve_asset_graph()
        return set(parse_selection(selection).resolve(graph))


def catalog_nodes(
    *, dagster_url: str | None, local: dg.Definitions | Any | None, instance_keys: Iterable[dg.AssetKey] = ()
) -> list[dict[str, Any]]:
    """The asset nodes to resolve against: the webserver's when ``dagster_url`` is set, else local ones."""
    if dagster_url:
        return fetch_nodes(dagster_url)
    nodes: dict[dg.AssetKey, dict[str, Any]] = {key: _bare(key) for key in instance_keys}
    if local is not None:
        for key in local.get_all_asset_keys():
            node = local.get(key)
            nodes[key] = {
                "assetKey": {"path": list(key.path)},
                "groupName": node.group_name,
                "tags": [{"key": k, "value": v} for k, v in (node.tags or {}).items()],
                "kinds": sorted(node.kinds or []),
                "owners": [_owner(owner) for owner in node.owners or []],
                "dependencyKeys": [{"path": list(parent.path)} for parent in node.parent_keys],
            }
    return list(nodes.values())


def fetch_nodes(dagster_url: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every asset node the Dagster webserver at ``dagster_url`` serves (all code locations)."""
    url = dagster_url.rstrip("/") + "/graphql"
    try:
        response = httpx.post(url, json={"query": CATALOG_QUERY}, timeout=timeout)
        response.raise_for_status()
        payload = response.json()
    except (httpx.HTTPError, ValueError) as err:
        raise CatalogError(f"cannot read the asset catalog from {url}: {err}") from err
    if payload.get("errors"):
        raise CatalogError(f"the asset catalog query failed at {url}: {payload['errors'][0].get('message')}")
    return payload["data"]["assetNodes"]


def dagster_url() -> str | None:
    """``LUPUS_DAGSTER_URL``, the Dagster webserver (also used by the API for detection runs)."""
    return os.environ.get("LUPUS_DAGSTER_URL") or None


def _spec(node: Mapping[str, Any]) -> dg.AssetSpec:
    owners = [(o.get("team") and f"team:{o['team']}") or o.get("email") for o in node.get("owners") or []]
    return dg.AssetSpec(
        key=dg.AssetKey(node["assetKey"]["path"]),
        group_name=node.get("groupName") or None,
        tags={t["key"]: t["value"] for t in node.get("tags") or []},
        kinds=set(node.get("kinds") or []),
        owners=[o for o in owners if o],
        deps=[dg.AssetKey(d["path"]) for d in node.get("dependencyKeys") or []],
    )


def _bare(key: dg.AssetKey) -> dict[str, Any]:
    return {"assetKey": {"path": list(key.path)}, "groupName": None, "tags": [], "kinds": [], "owners": [],
            "dependencyKeys": []}  # fmt: skip


def _owner(owner: str) -> dict[str, str]:
    return {"team": owner.removeprefix("team:")} if owner.startswith("team:") else {"email": owner}
