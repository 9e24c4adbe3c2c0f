"""The code location loads, with the shared store resource."""

import dagster as dg

from lupus_dagster.definitions import defs


def test_code_location_loads_with_the_store_resource(tmp_path):
    dg.Definitions.validate_loadable(defs)
    resource = defs.resources["store"]
    assert type(resource).__name__ == "MetricStoreResource"
    assert resource.model_copy(update={"root": str(tmp_path)}).get_store().root == str(tmp_path)
