import numpy as np

from lupus_metrics.detectors.calibration import effective_count, thresholds


def _stepped_runs(rng: np.random.Generator, runs: int, length: int) -> list[np.ndarray]:
    """Forecast errors of a stepped metric, one run per forecast fold: the level steps on 8 % of days
    (heavy-tailed steps) and every later day of the fold is off by the sum of the steps so far."""
    out = []
    for _ in range(runs):
        steps = np.where(rng.random(length) < 0.08, rng.standard_t(3, length), 0.0)
        out.append(np.cumsum(steps) + rng.normal(0.0, 0.05, length))
    return out


def test_clumped_scores_are_calibrated_on_their_effective_count():
    # Six 20-day calibration folds, then a 14-day forecast judged with their threshold, as Prophet's
    # next_step does: scores within a fold come in clumps, and a tail fitted to 120 of them as if they
    # were independent is too light (about 2.2-2.5 times the nominal rate on these draws).
    rng = np.random.default_rng(1)
    alpha = 0.01
    fitted = effective = judged = 0
    for _ in range(2000):
        folds = _stepped_runs(rng, 6, 20)
        scores = np.abs(np.concatenate(folds))[None, :]
        deployed = np.abs(_stepped_runs(rng, 1, 14)[0])
        fitted += np.count_nonzero(deployed > thresholds(scores, alpha)[0][0])
        effective += np.count_nonzero(deployed > thresholds(scores, alpha, effective=effective_count(folds))[0][0])
        judged += len(deployed)
    assert fitted / judged / alpha > 1.5
    assert 0.5 <= effective / judged / alpha <= 1.5


def test_independent_scores_keep_their_count():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=300)
    assert effective_count([scores]) > 250
    same = thresholds(np.abs(scores)[None, :], 1e-3, effective=effective_count([scores]))[0]
    assert same == thresholds(np.abs(scores)[None, :], 1e-3)[0]
