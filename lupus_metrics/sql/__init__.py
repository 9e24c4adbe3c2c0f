"""SQL over tables where they live, shared by the profile, evaluation, drift and churn code.

- :mod:`~lupus_metrics.sql.tables`: run SQL over named inputs on DuckDB (frames, relations) or Spark;
- :mod:`~lupus_metrics.sql.grouping`: per-group aggregates (grouping sets) and their labels;
- :mod:`~lupus_metrics.sql.ecdf`: exact quantiles from the counts of distinct values, in bounded memory.
"""
