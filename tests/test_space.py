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


def test_anchors_are_public_defaults_inside_the_space():
    from trifront.space import ANCHOR_EPSILONS, SMALL_BATCH_EPSILON

    space = SearchSpace.default("mlp", n_train=640)
    anchors = space.anchors()
    # one per level, then the small-batch one at its level
    assert [a["target_epsilon"] for a in anchors] == [*ANCHOR_EPSILONS, SMALL_BATCH_EPSILON]
    small = anchors[-1]
    same_level = anchors[ANCHOR_EPSILONS.index(SMALL_BATCH_EPSILON)]
    assert small["batch_size"] == space["batch_size"].low < same_level["batch_size"]
    assert {k: v for k, v in small.items() if k != "batch_size"} == {
        k: v for k, v in same_level.items() if k != "batch_size"}
    for a in anchors:
        assert set(a) == set(space.names)
        for d in space.dimensions:
            assert d.low <= a[d.name] <= d.high
        # the fairness knobs are in their off zones, and the defaults are the documented ones
        assert a["fair_weight"] < 1e-3 and a["reweigh"] < 0.05 and a["group_thresholds"] >= 0.2
        assert (a["clip"], a["lr"], a["hidden"], a["depth"]) == (1.0, 0.5, 64, 1)
    # small data: many small steps, the (scaled) largest epochs and a small batch
    assert anchors[0]["epochs"] == space["epochs"].high > 10
    b = space["batch_size"]
    assert b.low < anchors[0]["batch_size"] < (b.low * b.high) ** 0.5


def test_anchors_stay_in_a_narrowed_range_and_are_not_repeated():
    space = SearchSpace.default("logreg").with_bounds({"target_epsilon": {"high": 1.0}})
    anchors = space.anchors()
    assert [a["target_epsilon"] for a in anchors] == [0.5, 1.0, 1.0]
    assert anchors[2]["batch_size"] == space["batch_size"].low < anchors[1]["batch_size"]
    one_batch = space.with_bounds({"batch_size": {"low": 128, "high": 128}})
    assert [a["target_epsilon"] for a in one_batch.anchors()] == [0.5, 1.0]  # no repeat
    assert SearchSpace.default("logreg", "noise").anchors() == []
