"""Anomaly detectors behind one interface, their configuration, a batch runner and a backtest.

Example:
    >>> import pandas as pd
    >>> from lupus_metrics.detectors import ThresholdDetector
    >>> ThresholdDetector(max=5).detect(pd.Series([1.0, 9.0]))["is_anomaly"].tolist()
    [False, True]
"""

from lupus_metrics.detectors.auto import AutoDetector
from lupus_metrics.detectors.backtest import BacktestReport, backtest
from lupus_metrics.detectors.base import RESULT_COLUMNS, Detector
from lupus_metrics.detectors.change_point import ChangePointDetector
from lupus_metrics.detectors.prophet_interval import ProphetDetector
from lupus_metrics.detectors.registry import (
    DETECTORS,
    DetectorRule,
    detector_config,
    detector_from_config,
    register_detector,
    rules_from_config,
)
from lupus_metrics.detectors.runner import DetectionResult, detect_many
from lupus_metrics.detectors.seasonal_esd import SeasonalHybridESD
from lupus_metrics.detectors.threshold import ThresholdDetector
from lupus_metrics.detectors.window import WindowDetector

__all__ = [
    "DETECTORS",
    "RESULT_COLUMNS",
    "AutoDetector",
    "BacktestReport",
    "ChangePointDetector",
    "DetectionResult",
    "Detector",
    "DetectorRule",
    "ProphetDetector",
    "SeasonalHybridESD",
    "ThresholdDetector",
    "WindowDetector",
    "backtest",
    "detect_many",
    "detector_config",
    "detector_from_config",
    "register_detector",
    "rules_from_config",
]
