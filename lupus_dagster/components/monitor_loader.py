"""Loading every monitor folder (`<root>/<name>/defs.yaml`); a broken one is reported, not fatal.

As with products, a broken monitor shows up in the Dagster UI as a `<folder>/spec_error` asset
saying which file, field and why; under `dg check defs` or `LUPUS_STRICT_DEFS=1` it fails the load.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml
from pydantic import ValidationError

from lupus_dagster.components.monitored_assets import MonitoredAssets, MonitorSpec
from lupus_dagster.components.product_loader import BrokenProduct, ProductSpecError, _key_part, _strict

COMPONENT_TYPE = "lupus_dagster.components.MonitoredAssets"


def read_monitor(path: Path) -> MonitorSpec:
    """Parse and validate one monitor `defs.yaml`; raises ProductSpecError naming the file, field and reason."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ProductSpecError(f"{path}: not readable YAML: {err}") from None
    if not isinstance(document, dict) or document.get("type") != COMPONENT_TYPE:
        raise ProductSpecError(f"{path}: type: must be {COMPONENT_TYPE}")
    try:
        return MonitorSpec.model_validate(document.get("attributes") or {})
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "attributes"
        raise ProductSpecError(f"{path}: {field}: {first['msg'].removeprefix('Value error, ')}") from None


def monitor_definitions(root: Path) -> dg.Definitions:
    """Definitions of every valid monitor under ``root`` (none when the folder is absent: monitors are opt-in)."""
    specs, broken = [], []
    for folder in sorted(p for p in root.iterdir() if (p / "defs.yaml").is_file()) if root.is_dir() else []:
        try:
            specs.append(read_monitor(folder / "defs.yaml"))
        except ProductSpecError as err:
            broken.append(BrokenProduct(folder.name, folder / "defs.yaml", str(err).split(": ", 1)[1]))
    if broken and _strict():
        raise ProductSpecError("invalid monitor specs:\n" + "\n".join(str(b) for b in broken))
    errors = [
        dg.AssetSpec(
            key=dg.AssetKey([_key_part(b.folder), "spec_error"]),
            group_name="broken_monitors",
            description=f"This selection is NOT monitored: {b}",
            metadata={"file": str(b.path), "error": b.reason},
            kinds={"yaml"},
        )
        for b in broken
    ]
    return dg.Definitions.merge(*[MonitoredAssets(spec).build_defs() for spec in specs], dg.Definitions(assets=errors))
