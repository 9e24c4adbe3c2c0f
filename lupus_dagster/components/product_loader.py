"""Loading every product folder, so that one broken YAML cannot hide the other products.

In the Dagster UI a broken product shows up as a `<folder>/spec_error` asset whose description
says which file, field and why; under `dg check defs` (which sets
`DAGSTER_IS_DEFS_VALIDATION_CLI=1`) or with `LUPUS_STRICT_DEFS=1`, the same report fails
the check instead.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import yaml
from pydantic import ValidationError

from lupus_dagster.components.monitored_product import MonitoredProduct
from lupus_dagster.components.spec_columns import check_columns_against_source
from lupus_dagster.product_spec import ProductSpec
from lupus_dagster.resources.routing import TeamRoute, TeamsFileError, load_teams, teams_file

COMPONENT_TYPE = "lupus_dagster.components.MonitoredProduct"


class ProductSpecError(ValueError):
    """One or more product files are invalid; the message has one line per file."""


@dataclass(frozen=True)
class BrokenProduct:
    folder: str
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def read_product(path: Path, *, check_columns: bool = False) -> ProductSpec:
    """Parse and validate one `defs.yaml`; raises ProductSpecError naming the file, field and reason."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ProductSpecError(f"{path}: not readable YAML: {err}") from None
    if not isinstance(document, dict) or document.get("type") != COMPONENT_TYPE:
        raise ProductSpecError(f"{path}: type: must be {COMPONENT_TYPE}")
    try:
        spec = ProductSpec.model_validate(document.get("attributes") or {})
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "attributes"
        more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
        raise ProductSpecError(f"{path}: {field}: {first['msg']}{more}") from None
    if check_columns:
        problem = check_columns_against_source(spec)
        if problem:
            raise ProductSpecError(f"{path}: {problem}")
    return spec


def load_products(root: Path) -> tuple[list[ProductSpec], list[BrokenProduct]]:
    """Every `<root>/<folder>/defs.yaml`, validated; broken ones are returned, not raised."""
    strict = _strict()
    specs: list[ProductSpec] = []
    broken: list[BrokenProduct] = []
    for folder in sorted(p for p in root.iterdir() if (p / "defs.yaml").is_file()) if root.is_dir() else []:
        try:
            specs.append(read_product(folder / "defs.yaml", check_columns=strict))
        except ProductSpecError as err:
            broken.append(BrokenProduct(folder.name, folder / "defs.yaml", str(err).split(": ", 1)[1]))
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.product in seen:
            broken.append(BrokenProduct(spec.product, root, f"product: {spec.product!r} is declared twice"))
        seen[spec.product] = spec.datasource
    return specs, broken


def product_definitions(root: Path) -> dg.Definitions:
    """Definitions of every valid product, plus a visible error asset per broken one (strict: raise)."""
    specs, broken = load_products(root)
    teams: dict[str, TeamRoute] = {}
    try:
        teams = load_teams(teams_file(root))
    except TeamsFileError as err:
        # Alerts still go to each product's own channel (or the console) while the file is fixed.
        path, reason = str(err).split(": ", 1)
        broken.append(BrokenProduct("teams", Path(path), reason))
    if broken and _strict():
        raise ProductSpecError("invalid product specs:\n" + "\n".join(str(b) for b in broken))
    with warnings.catch_warnings():
        # Partitioned checks are "preview" in Dagster 1.13 and last-update freshness checks "superseded";
        # both are the documented way for daily-partitioned assets today.
        warnings.simplefilter("ignore")
        built = [MonitoredProduct(spec, teams).build_defs() for spec in specs]
    errors = [
        dg.AssetSpec(
            key=dg.AssetKey([_key_part(b.folder), "spec_error"]),
            group_name="broken_products",
            description=f"This product is NOT monitored: {b}",
            metadata={"file": str(b.path), "error": b.reason},
            kinds={"yaml"},
        )
        for b in broken
    ]
    return dg.Definitions.merge(*built, dg.Definitions(assets=errors))


def _strict() -> bool:
    return bool(os.environ.get("DAGSTER_IS_DEFS_VALIDATION_CLI") or os.environ.get("LUPUS_STRICT_DEFS"))


def _key_part(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "product"
