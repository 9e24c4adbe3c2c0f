"""The demo: three synthetic products with one injected incident each (see generate.py)."""
