"""Search-space bounds, overrides and their validation."""

import pytest
from optuna.distributions import FloatDistribution, IntDistribution

from trifront.errors import ConfigError
from trifront.space import SearchSpace


def test_default_space_searches_epsilon_on_a_log_scale():
    space = SearchSpace.default("logreg")
    dist = space.distributions()
    assert isinstance(dist["target_epsilon"], FloatDistribution) and dist["target_epsilon"].log
    assert isinstance(dist["batch_size"], IntDistribution)
    assert "hidden" not in dist
    assert space.epsilon_max == dist["target_epsilon"].high


def test_mlp_space_adds_width_and_noise_parametrisation_swaps_privacy_dim():
    assert {"hidden", "depth"} <= set(SearchSpace.default("mlp").names)
    assert "depth" not in SearchSpace.default("logreg").names
    noise = SearchSpace.default("logreg", "noise")
    assert "noise_multiplier" in noise.names and "target_epsilon" not in noise.names
    assert noise.epsilon_max is None


def test_overrides_replace_bounds():
    space = SearchSpace.default().with_bounds({"target_epsilon": {"low": 0.5, "high": 2}})
    assert (space["target_epsilon"].low, space["target_epsilon"].high) == (0.5, 2.0)
    assert space["lr"] == SearchSpace.default()["lr"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"target_epsilon": {"low": 3, "high": 1}}, "low <= high"),
        ({"target_epsilon": {"low": 0}}, "low > 0"),
        ({"target_epsilon": {"low": -1}}, "low > 0"),
        ({"epoch": {"low": 1}}, "Did you mean .epochs."),
        ({"lr": {"lo": 1}}, "accepts `low` and `high`"),
        ({"lr": {"low": "fast"}}, "must be numbers"),
    ],
)
def test_bad_overrides_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace.default().with_bounds(override)
