"""Evaluation metrics as metric points: classification, regression, ranking/recommendation.

Every function takes the partition time as keyword ``ts`` and returns a frame with
columns ``metric, labels, ts, value, n, stderr`` ready for :func:`lupus_metrics.frames.normalize_points`
(``n``: the support behind the value, ``stderr``: its standard error; NaN where undefined).
Definitions are in ``docs/evaluation.md``.
"""

from lupus_metrics.evaluation.classification import evaluate_classification
from lupus_metrics.evaluation.ranking import evaluate_ranking, ranking_per_user
from lupus_metrics.evaluation.regression import evaluate_regression

__all__ = ["evaluate_classification", "evaluate_ranking", "evaluate_regression", "ranking_per_user"]
