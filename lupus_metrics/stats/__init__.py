"""Declarative group-by statistics over pandas (executed by DuckDB) and PySpark.

See docs/stats.md for the spec format and the exact definition of every stat.
"""

from lupus_metrics.stats.points import NULL_LABEL
from lupus_metrics.stats.profile import compute_profile
from lupus_metrics.stats.spec import ProfileSpec, SampleSpec, SparkOptions

__all__ = ["NULL_LABEL", "ProfileSpec", "SampleSpec", "SparkOptions", "compute_profile"]
