"""Large inputs: the gap from (group, label, prediction) cell counts equals Fairlearn's own."""

import numpy as np
import pytest

from trifront.fairness.metrics import _METRICS, COMPRESS_ABOVE, FAIRNESS_METRICS, unfairness


@pytest.mark.parametrize("metric", FAIRNESS_METRICS)
def test_cell_counts_give_fairlearns_value_exactly(metric):
    rng = np.random.default_rng(1)
    n = COMPRESS_ABOVE + 20_001
    groups = rng.choice(["a", "b", "c"], n)
    y_true = rng.integers(0, 2, n)
    y_pred = (rng.random(n) < np.where(groups == "a", 0.2, 0.45)).astype(np.int64)
    direct = float(_METRICS[metric][0](y_true, y_pred, sensitive_features=groups))
    assert unfairness(y_true, y_pred, sensitive_features=groups, metric=metric) == direct
