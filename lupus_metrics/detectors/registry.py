"""Detectors and detector rules from configuration (the ``detect:`` list of a product spec).

A detector config is a mapping with ``kind`` plus the detector's parameters,
e.g. ``{kind: window, window: 14, method: mad, threshold: 4}``. A
:class:`DetectorRule` says which series a detector watches: metric-name globs
and an optional label filter. A rule without ``detector`` gets the ``auto`` detector
with its defaults; ``range`` overrides the metric's valid range (inferred from its name).

Example:
    >>> detector_from_config({"kind": "window", "window": 14, "method": "mad", "threshold": 4})
    WindowDetector(min_delta=None, min_relative_delta=None, window=14, method='mad', threshold=4.0, direction='both', min_history=None, same_weekday=False)
    >>> rule = DetectorRule.model_validate({"metrics": ["*.null_rate"], "labels": {"region": "JP"},
    ...                                     "detector": {"kind": "threshold", "max": 0.01}})
    >>> rule.matches("age.null_rate", {"region": "JP"}), rule.matches("age.null_rate", {"region": "US"})
    (True, False)
    >>> DetectorRule.model_validate({"metrics": ["rows.count"]}).detector.kind
    'auto'
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

from lupus_metrics.detectors.auto import AutoDetector
from lupus_metrics.detectors.base import Detector
from lupus_metrics.detectors.change_point import ChangePointDetector
from lupus_metrics.detectors.noise import valid_range
from lupus_metrics.detectors.prophet_interval import ProphetDetector
from lupus_metrics.detectors.seasonal_esd import SeasonalHybridESD
from lupus_metrics.detectors.threshold import ThresholdDetector
from lupus_metrics.detectors.window import WindowDetector
from lupus_metrics.errors import LupusValidationError

_BUILT_IN: tuple[type[Detector], ...] = (
    AutoDetector, ThresholdDetector, WindowDetector, ProphetDetector, SeasonalHybridESD, ChangePointDetector,
)  # fmt: skip


#: Detector classes by their YAML ``kind``.
DETECTORS: dict[str, type[Detector]] = {cls.kind: cls for cls in _BUILT_IN}


def register_detector(cls: type[Detector]) -> type[Detector]:
    """Make ``cls`` available to configs under ``cls.kind`` (usable as a class decorator).

    >>> register_detector(ThresholdDetector) is ThresholdDetector
    True
    """
    if not (isinstance(cls, type) and issubclass(cls, Detector)) or not isinstance(getattr(cls, "kind", None), str):
        raise LupusValidationError("detector", "must be a Detector subclass with a string `kind`", value=cls)
    known = DETECTORS.get(cls.kind)
    if known is not None and known is not cls:
        raise LupusValidationError("kind", f"already registered by {known.__name__}", value=cls.kind)
    DETECTORS[cls.kind] = cls
    return cls


def detector_from_config(config: Mapping[str, Any] | Detector, *, where: str = "detector") -> Detector:
    """Build a detector from ``{kind: ..., <parameters>}``; errors name the offending parameter.

    >>> detector_from_config({"kind": "threshold", "max": 1, "maxx": 2})
    Traceback (most recent call last):
    ...
    lupus_metrics.errors.LupusValidationError: detector.maxx: Extra inputs are not permitted; got 2
    """
    if isinstance(config, Detector):
        return config
    if not isinstance(config, Mapping):
        raise LupusValidationError(where, "must be a mapping with `kind` and the detector's parameters", value=config)
    params = dict(config)
    kind = params.pop("kind", None)
    if kind not in DETECTORS:
        raise LupusValidationError(f"{where}.kind", f"must be one of {', '.join(sorted(DETECTORS))}", value=kind)
    try:
        return DETECTORS[kind](**params)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise LupusValidationError(
            f"{where}.{field}" if field else where,
            first["msg"].removeprefix("Value error, "),
            value=first["input"] if field else None,
        ) from None


def detector_config(detector: Detector) -> dict[str, Any]:
    """The config that rebuilds ``detector``: ``{"kind": ..., **parameters}``.

    >>> detector_config(ThresholdDetector(max=1.0))
    {'kind': 'threshold', 'min': None, 'max': 1.0, 'min_inclusive': True, 'max_inclusive': True}
    """
    return {"kind": detector.kind, **detector.params()}


class DetectorRule(BaseModel):
    """Run ``detector`` on every series whose metric matches one of ``metrics`` and whose labels match ``labels``.

    ``metrics`` are shell-style globs (``ranking.*``, ``*.null_rate``). ``labels`` maps a label key to
    a glob its value must match (``{region: "JP"}``, ``{k: "*"}`` = the label must exist).
    ``period`` is passed to ``detect`` (seasonal detectors need it for series indexed by position).
    Without ``detector``, the rule runs the ``auto`` detector with its defaults. ``range``
    (``[low, high]``) overrides the valid range inferred from the metric's name
    (:func:`~lupus_metrics.detectors.noise.valid_range`); bands and expected values are clipped to it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    metrics: list[str] = Field(min_length=1, description="Metric-name globs, e.g. ['ranking.*', 'rows.count'].")
    labels: dict[str, str] = Field(default_factory=dict, description="Label key -> glob its value must match.")
    detector: Detector = Field(
        default_factory=AutoDetector, description="Detector config: {kind: ..., parameters}; default `auto`."
    )
    period: int | None = Field(default=None, ge=1, description="Seasonal period in points, if not inferable.")
    range: tuple[float, float] | None = Field(
        default=None, description="Valid range [low, high] of the metric (default: inferred from its name)."
    )

    @field_validator("range")
    @classmethod
    def _ordered_range(cls, bounds: tuple[float, float] | None) -> tuple[float, float] | None:
        if bounds is not None and not bounds[0] < bounds[1]:
            raise ValueError(f"range must be [low, high] with low < high, got {list(bounds)}")
        return bounds

    @field_validator("metrics")
    @classmethod
    def _non_empty_globs(cls, globs: list[str]) -> list[str]:
        for glob in globs:
            if not isinstance(glob, str) or not glob.strip():
                raise ValueError("each metric glob must be a non-empty string")
        return globs

    @field_validator("detector", mode="before")
    @classmethod
    def _build_detector(cls, value: Any) -> Detector:
        try:
            return detector_from_config(value)
        except LupusValidationError as err:
            # Re-raised as ValueError so pydantic reports it under `detector`.
            raise ValueError(str(err)) from None

    @field_serializer("detector")
    def _dump_detector(self, detector: Detector) -> dict[str, Any]:
        return detector_config(detector)

    def valid_range(self, metric: str) -> tuple[float, float]:
        """The range the rule's bands are clipped to for ``metric``: ``range`` or the name's family."""
        return self.range if self.range is not None else valid_range(metric)

    def matches(self, metric: str, labels: Mapping[str, str]) -> bool:
        """Whether this rule watches the series ``metric`` + ``labels``."""
        if not any(fnmatch.fnmatchcase(metric, glob) for glob in self.metrics):
            return False
        return all(key in labels and fnmatch.fnmatchcase(labels[key], glob) for key, glob in self.labels.items())


def rules_from_config(configs: Iterable[Mapping[str, Any] | DetectorRule]) -> list[DetectorRule]:
    """Parse a product spec's ``detect:`` list; errors name the rule's position and field.

    >>> rules_from_config([{"metrics": ["rows.count"], "detector": {"kind": "window", "window": 1}}])
    Traceback (most recent call last):
    ...
    lupus_metrics.errors.LupusValidationError: detect[0].detector: detector.window: Input should be greater than or equal to 2; got 1
    """
    if isinstance(configs, (str, bytes, Mapping)) or not isinstance(configs, Iterable):
        raise LupusValidationError("rules", "must be a list of detector rules", value=configs)
    rules: list[DetectorRule] = []
    for position, config in enumerate(configs):
        if isinstance(config, DetectorRule):
            rules.append(config)
            continue
        try:
            rules.append(DetectorRule.model_validate(config))
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise LupusValidationError(
                f"detect[{position}].{field}" if field else f"detect[{position}]", message
            ) from None
    return rules
