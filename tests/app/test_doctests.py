"""The examples in the docstrings of the app's helper modules hold (pytest's doctest paths leave out streamlit_app)."""

from __future__ import annotations

import doctest
import importlib
from types import ModuleType

import pytest

# The helper modules with examples, named once (the pages themselves run Streamlit on import).
NAMES = ("alert_items", "annotations", "chart_data", "charts", "dashboards", "deep_links", "formats",
         "incident_board", "queries", "sessions", "tables", "time_ranges")  # fmt: skip
MODULES = [importlib.import_module(f"streamlit_app.{name}") for name in NAMES]


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.__name__)
def test_docstring_examples_hold(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
