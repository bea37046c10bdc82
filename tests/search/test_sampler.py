"""The trifront sampler and the sampler registry, on a toy problem with no training.

The toy problem: "epsilon" is a searched parameter (so the privacy objective is a
known function of the params, as in trifront's default parametrisation);
accuracy rises with epsilon and peaks at lr = 10^-1.5; the fairness knob ``w``
trades a little accuracy for a smaller gap. Values are smooth plus small,
seeded noise.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import optuna
import pytest
import torch
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from trifront.analysis import hypervolume
from trifront.errors import ConfigError
from trifront.search import (
    PROPOSAL_KIND,
    PROPOSAL_SECONDS,
    SAMPLERS,
    TrifrontSampler,
    make_sampler,
)
from trifront.search.sampler import MODEL_DATA

REF = (0.6, 10.0, 0.5)  # (accuracy, epsilon, unfairness)
DIRECTIONS = ["maximize", "minimize", "minimize"]
SPACE = {
    "epsilon": FloatDistribution(0.1, 10.0, log=True),
    "lr": FloatDistribution(1e-3, 1.0, log=True),
    "w": FloatDistribution(0.0, 1.0),
    "batch": IntDistribution(16, 256, log=True),
    "epochs": IntDistribution(1, 9, step=2),
}
KNOWN_EPS = {1: lambda params: params["epsilon"]}
# Small acquisition budgets keep each model proposal well under a second.
FAST: dict[str, Any] = {"num_restarts": 2, "raw_samples": 64, "mc_samples": 32}


def toy(params: dict[str, Any], number: int = 0) -> tuple[float, float, float]:
    """(accuracy, epsilon, unfairness) of the toy problem."""
    eps, lr, w = params["epsilon"], params["lr"], params["w"]
    noise = np.random.default_rng(number).normal(0.0, 0.003, size=2)
    acc = 0.6 + 0.3 * (1 - math.exp(-eps)) * math.exp(-((math.log10(lr) + 1.5) ** 2)) - 0.05 * w
    gap = 0.05 + 0.3 * (1 - w) * acc
    return acc + noise[0], eps, gap + noise[1]


def objective(trial: optuna.Trial) -> tuple[float, float, float]:
    params = {name: trial._suggest(name, dist) for name, dist in SPACE.items()}
    return toy(params, trial.number)


def run(sampler: optuna.samplers.BaseSampler, n_trials: int) -> optuna.Study:
    study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
    study.optimize(objective, n_trials=n_trials)
    return study


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # The baselines' BoTorch / GP code runs much faster on one thread on a shared box.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _quiet_optuna() -> Iterator[None]:
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    yield
    optuna.logging.set_verbosity(verbosity)


def _in_space(params: dict[str, Any]) -> bool:
    return all(dist._contains(dist.to_internal_repr(params[n])) for n, dist in SPACE.items())


# optuna-integration's BoTorchSampler lets BoTorch's optimiser warnings through
# (e.g. "All acquisition values for raw sampled points are nonpositive"); they
# are about its own acquisition budget, not something trifront can fix.
_BASELINES = [
    pytest.param(
        name,
        marks=pytest.mark.filterwarnings("ignore::botorch.exceptions.warnings.BotorchWarning"),
    )
    if name == "botorch"
    else name
    for name in SAMPLERS
]


@pytest.mark.parametrize("name", _BASELINES)
def test_every_registry_sampler_runs_a_three_objective_study(name: str) -> None:
    sampler = make_sampler(
        name, seed=0, reference_point=REF, known_objectives=KNOWN_EPS, n_startup_trials=5
    )
    study = run(sampler, n_trials=7)  # the model-based ones make 2 model proposals
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 7
    assert all(_in_space(t.params) for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 7


def test_unknown_sampler_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown sampler 'tpee'.*Did you mean 'tpe'"):
        make_sampler("tpee", seed=0, reference_point=REF)


def test_bad_settings_are_rejected_with_the_value() -> None:
    with pytest.raises(ConfigError, match="Got 2 elements, but expected 3"):
        TrifrontSampler(reference_point=(0.6, 10.0))
    with pytest.raises(ConfigError, match="objective index"):
        TrifrontSampler(reference_point=REF, known_objectives={3: lambda p: 1.0})
    with pytest.raises(ConfigError, match="num_restarts=8, raw_samples=4"):
        TrifrontSampler(reference_point=REF, num_restarts=8, raw_samples=4)


def test_proposals_respect_bounds_int_steps_and_log_dims() -> None:
    sampler = TrifrontSampler(
        seed=1, n_startup_trials=4, reference_point=REF, known_objectives=KNOWN_EPS, **FAST
    )
    study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
    space = {**SPACE, "act": CategoricalDistribution(["relu", "tanh"])}
    for _ in range(6):
        trial = study.ask(space)
        study.tell(trial, toy(trial.params, trial.number))
    trials = study.trials
    kinds = [t.system_attrs.get(PROPOSAL_KIND) for t in trials]
    # Trial 0 has no known space yet (independent sampler); then Sobol; then the model.
    assert kinds == [None, "sobol", "sobol", "sobol", "model", "model"]
    for t in trials:
        assert _in_space(t.params)
        assert isinstance(t.params["batch"], int) and isinstance(t.params["epochs"], int)
        assert t.params["epochs"] % 2 == 1
        assert t.params["act"] in ("relu", "tanh")  # categorical: independent sampler
    for t in trials[1:]:
        assert t.user_attrs[PROPOSAL_SECONDS] > 0.0
    # Log dims are searched in log space: Sobol covers decades, not just the top one.
    lrs = [t.params["lr"] for t in trials[1:4]]
    assert min(lrs) < 0.1


def test_same_seed_same_history_same_proposals() -> None:
    def params_of(seed: int, n_trials: int) -> list[dict[str, Any]]:
        sampler = TrifrontSampler(
            seed=seed, n_startup_trials=4, reference_point=REF, known_objectives=KNOWN_EPS, **FAST
        )
        return [t.params for t in run(sampler, n_trials=n_trials).trials]

    first = params_of(3, n_trials=6)  # 4 startup + 2 model proposals
    assert params_of(3, n_trials=6) == first
    assert params_of(4, n_trials=4) != first[:4]


def test_reseed_rng_changes_the_sobol_points() -> None:
    sampler = TrifrontSampler(seed=0, n_startup_trials=10, reference_point=REF)
    before = [t.params for t in run(sampler, n_trials=3).trials[1:]]
    sampler.reseed_rng()
    after = [t.params for t in run(sampler, n_trials=3).trials[1:]]
    assert before != after


def test_known_epsilon_gets_no_gp_and_unknown_epsilon_does() -> None:
    known = TrifrontSampler(
        seed=0, n_startup_trials=4, reference_point=REF, known_objectives=KNOWN_EPS, **FAST
    )
    study = run(known, n_trials=5)
    assert study.trials[4].system_attrs[PROPOSAL_KIND] == "model"
    assert known.gp_fit_counts == {"accuracy": 1, "epsilon": 0, "unfairness": 1}

    learned = TrifrontSampler(seed=0, n_startup_trials=4, reference_point=REF, **FAST)
    run(learned, n_trials=5)
    assert learned.gp_fit_counts == {"accuracy": 1, "epsilon": 1, "unfairness": 1}


def test_a_known_objective_that_needs_floats_is_evaluated_point_by_point() -> None:
    sampler = TrifrontSampler(
        seed=0,
        n_startup_trials=4,
        reference_point=REF,
        known_objectives={1: lambda p: math.exp(math.log(p["epsilon"]))},  # floats only
        **FAST,
    )
    study = run(sampler, n_trials=5)
    assert study.trials[4].system_attrs[PROPOSAL_KIND] == "model"
    assert sampler.gp_fit_counts["epsilon"] == 0


def test_failed_pruned_and_infinite_trials_are_left_out_of_the_model() -> None:
    sampler = TrifrontSampler(seed=0, n_startup_trials=4, reference_point=REF, **FAST)
    study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
    for i in range(8):
        trial = study.ask(SPACE)
        if i == 1:
            study.tell(trial, state=TrialState.FAIL)
        elif i == 2:
            study.tell(trial, state=TrialState.PRUNED)
        elif i == 3:
            study.tell(trial, (0.8, math.inf, 0.1))  # a non-private run: -log10 eps = -inf
        elif i == 4:
            with pytest.warns(UserWarning, match="nan is not acceptable"):
                study.tell(trial, (math.nan, 1.0, 0.1))  # Optuna stores NaN values as FAIL
        else:
            study.tell(trial, toy(trial.params, i))
    assert study.trials[4].state == TrialState.FAIL
    trial = study.ask(SPACE)
    frozen = study._storage.get_trial(trial._trial_id)
    assert frozen.system_attrs[PROPOSAL_KIND] == "model"
    data = frozen.system_attrs[MODEL_DATA]
    assert (data["n_train"], data["n_pending"]) == (4, 0)
    assert set(data["seconds"]) == {"fit", "build", "optimise"}
    assert _in_space(trial.params)


def test_a_failing_model_falls_back_to_sobol_and_says_why() -> None:
    def broken(params: dict[str, Any]) -> float:
        raise RuntimeError("accountant unavailable")

    sampler = TrifrontSampler(
        seed=0, n_startup_trials=3, reference_point=REF, known_objectives={1: broken}, **FAST
    )
    study = run(sampler, n_trials=5)
    kinds = [t.system_attrs[PROPOSAL_KIND] for t in study.trials[3:]]
    assert all(k.startswith("sobol-fallback: known objective epsilon raised") for k in kinds)
    assert "accountant unavailable" in kinds[0]
    assert all(_in_space(t.params) for t in study.trials)


def test_running_trials_are_pending_so_parallel_proposals_differ() -> None:
    sampler = TrifrontSampler(
        seed=0, n_startup_trials=6, reference_point=REF, known_objectives=KNOWN_EPS, **FAST
    )
    study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
    for _ in range(8):
        trial = study.ask(SPACE)
        study.tell(trial, toy(trial.params, trial.number))
    first, second = study.ask(SPACE), study.ask(SPACE)  # both RUNNING
    attrs = study._storage.get_trial(second._trial_id).system_attrs
    assert attrs[PROPOSAL_KIND] == "model"
    assert attrs[MODEL_DATA]["n_pending"] == 1

    def unit(p: dict[str, Any]) -> np.ndarray:
        return np.array(
            [
                math.log(p["epsilon"] / 0.1) / math.log(100),
                math.log(p["lr"] / 1e-3) / math.log(1000),
                p["w"],
                math.log(p["batch"] / 16) / math.log(16),
                (p["epochs"] - 1) / 8,
            ]
        )

    # Without X_pending both would climb to the same acquisition maximum
    # (distance ~0.26 in the unit cube here, measured); with it (~1.6) the second is
    # pushed away from the first.
    assert np.linalg.norm(unit(first.params) - unit(second.params)) > 0.5


def test_beats_random_search_on_the_toy_problem() -> None:
    n_trials = 16
    trifront = TrifrontSampler(
        seed=0, n_startup_trials=8, reference_point=REF, known_objectives=KNOWN_EPS, **FAST
    )
    hv_trifront = hypervolume(
        np.array([t.values for t in run(trifront, n_trials).trials]), reference_point=REF
    )
    hv_random = [
        hypervolume(
            np.array(
                [t.values for t in run(optuna.samplers.RandomSampler(seed=s), n_trials).trials]
            ),
            reference_point=REF,
        )
        for s in range(5)
    ]
    assert hv_trifront > np.median(hv_random)


@pytest.mark.parametrize(
    "options",
    [{"acquisition": "logehvi"}, {"input_warping": True, "warm_start": False}],
    ids=["logehvi", "warped"],
)
def test_acquisition_and_model_options_make_model_proposals(options: dict[str, Any]) -> None:
    sampler = TrifrontSampler(
        seed=0,
        n_startup_trials=4,
        reference_point=REF,
        known_objectives=KNOWN_EPS,
        **FAST,
        **options,
    )
    study = run(sampler, 6)
    assert [t.system_attrs[PROPOSAL_KIND] for t in study.trials[4:]] == ["model", "model"]
    assert all(_in_space(t.params) for t in study.trials)


def test_warm_start_keeps_the_fitted_hyperparameters_per_objective() -> None:
    sampler = TrifrontSampler(
        seed=0, n_startup_trials=4, reference_point=REF, known_objectives=KNOWN_EPS, **FAST
    )
    run(sampler, 6)
    assert sorted(sampler._gp_state) == [("accuracy", 5), ("unfairness", 5)]
    assert not any(k.startswith("outcome_transform") for k in sampler._gp_state[("accuracy", 5)])


def test_unknown_acquisition_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="lognehvi"):
        TrifrontSampler(reference_point=REF, acquisition="nehvi")


def test_trifront_names_choose_the_acquisition_and_keep_the_known_objectives() -> None:
    default = make_sampler("trifront", seed=0, reference_point=REF, known_objectives=KNOWN_EPS)
    cheap = make_sampler("trifront-ehvi", seed=0, reference_point=REF, known_objectives=KNOWN_EPS)
    assert isinstance(default, TrifrontSampler) and isinstance(cheap, TrifrontSampler)
    assert (default.acquisition, cheap.acquisition) == ("lognehvi", "logehvi")
    assert set(cheap.known_objectives) == set(default.known_objectives) == {1}


def _unit(params: dict[str, Any]) -> np.ndarray:
    """Unit-cube coordinates of the toy's params, in the sampler's (sorted) dim order."""
    return np.array(
        [
            (params["epochs"] - 1) / 8,
            math.log(params["epsilon"] / 0.1) / math.log(100),
            math.log(params["lr"] / 1e-3) / math.log(1000),
            math.log(params["batch"] / 16) / math.log(16),
            params["w"],
        ]
    )


def test_model_proposals_stay_in_the_trust_region_around_a_completed_trial() -> None:
    sampler = TrifrontSampler(
        seed=0, n_startup_trials=6, reference_point=REF, known_objectives=KNOWN_EPS, **FAST
    )
    study = run(sampler, 10)
    completed = [_unit(t.params) for t in study.trials]
    for trial in study.trials[6:]:
        region = trial.system_attrs[MODEL_DATA]["region"]
        assert region["kind"] == "local" and region["width"] == 0.2
        center = np.array(region["center"])
        # The centre is a completed trial (in the sampler's order: batch, epochs,
        # epsilon, lr, w); the proposal is within half a width of it along the
        # float dims (int dims are rounded afterwards).
        order = [3, 0, 1, 2, 4]
        assert min(np.abs(c[order] - center).max() for c in completed[: trial.number]) < 1e-9
        u = _unit(trial.params)[order]
        assert np.all(np.abs(u[[2, 3, 4]] - center[[2, 3, 4]]) <= 0.1 + 1e-9)


def test_without_a_trust_region_proposals_search_the_whole_cube() -> None:
    sampler = TrifrontSampler(
        seed=0,
        n_startup_trials=6,
        reference_point=REF,
        known_objectives=KNOWN_EPS,
        local_width=None,
        **FAST,
    )
    study = run(sampler, 8)
    assert [t.system_attrs[MODEL_DATA]["region"] for t in study.trials[6:]] == [
        {"kind": "global"}
    ] * 2


@pytest.mark.parametrize("width", [0.0, -0.1, 1.5])
def test_a_bad_trust_region_width_is_refused(width: float) -> None:
    with pytest.raises(ConfigError, match=f"local_width.*{width}"):
        TrifrontSampler(reference_point=REF, local_width=width)


def test_the_optimiser_imports_no_training_code() -> None:
    """``trifront.search`` loads no training code, nor the benchmark that uses it."""
    training = ("problem", "privacy", "datasets", "models", "fairness", "runner", "execution")
    code = "import sys, trifront.search; print(*sorted(sys.modules), sep='\\n')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = [m for m in out.stdout.splitlines() if m.startswith("trifront.")]
    assert not [m for m in loaded if m.split(".")[1] in training], loaded
    assert "trifront.search.benchmark" not in loaded


def test_a_two_objective_sampler_models_only_what_it_searches() -> None:
    privacy_utility = TrifrontSampler(seed=0, n_startup_trials=4, reference_point=REF,
                                      known_objectives=KNOWN_EPS,
                                      objectives=("accuracy", "epsilon"), **FAST)
    study = run(privacy_utility, n_trials=6)
    assert [t.system_attrs[PROPOSAL_KIND] for t in study.trials[4:]] == ["model", "model"]
    assert privacy_utility.gp_fit_counts == {"accuracy": 2, "epsilon": 0, "unfairness": 0}

    # Without epsilon, its known function is not used (every trial has one epsilon).
    fairness_utility = TrifrontSampler(seed=0, n_startup_trials=4, reference_point=REF,
                                       known_objectives=KNOWN_EPS,
                                       objectives=("accuracy", "unfairness"), **FAST)
    study = run(fairness_utility, n_trials=5)
    assert study.trials[4].system_attrs[PROPOSAL_KIND] == "model"
    assert fairness_utility.gp_fit_counts == {"accuracy": 1, "epsilon": 0, "unfairness": 1}
    with pytest.raises(ConfigError, match="accepted: accuracy,epsilon,unfairness"):
        TrifrontSampler(reference_point=REF, objectives=("epsilon", "unfairness"))


def test_the_privacy_utility_sampler_beats_random_search_on_the_2d_front() -> None:
    two_d = ("accuracy", "epsilon")
    n_trials = 16
    sampler = TrifrontSampler(seed=0, n_startup_trials=8, reference_point=REF,
                              known_objectives=KNOWN_EPS, objectives=two_d, **FAST)
    values = np.array([t.values for t in run(sampler, n_trials).trials])
    hv_trifront = hypervolume(values, reference_point=REF, objectives=two_d)
    hv_random = [
        hypervolume(np.array([t.values for t in run(optuna.samplers.RandomSampler(seed=s),
                                                        n_trials).trials]),
                    reference_point=REF, objectives=two_d)
        for s in range(5)
    ]
    assert hv_trifront > np.median(hv_random)


def test_a_batch_proposal_serves_the_next_ask_without_another_fit() -> None:
    sampler = TrifrontSampler(seed=0, n_startup_trials=4, reference_point=REF,
                              known_objectives=KNOWN_EPS, batch=2, **FAST)
    study = run(sampler, n_trials=4)
    first = study.ask(SPACE)   # proposes two candidates jointly, one fit per objective
    second = study.ask(SPACE)  # in flight together: gets the queued one
    assert sampler.gp_fit_counts == {"accuracy": 1, "epsilon": 0, "unfairness": 1}
    attrs = [study._storage.get_trial(t._trial_id).system_attrs for t in (first, second)]
    assert [a[PROPOSAL_KIND] for a in attrs] == ["model", "model"]
    assert attrs[1][MODEL_DATA] == {"batch_of": first.number}
    assert "n_train" in attrs[0][MODEL_DATA]
    assert first.params != second.params
    for t in (first, second):
        assert _in_space(t.params)
        study.tell(t, list(toy(t.params, t.number)))
    third = study.ask(SPACE)   # the queue is spent: a new proposal and a new fit
    assert sampler.gp_fit_counts["accuracy"] == 2
    assert "n_train" in study._storage.get_trial(third._trial_id).system_attrs[MODEL_DATA]


def test_a_queued_candidate_is_dropped_when_another_trial_number_asks() -> None:
    sampler = TrifrontSampler(seed=0, n_startup_trials=4, reference_point=REF,
                              known_objectives=KNOWN_EPS, batch=2, **FAST)
    study = run(sampler, n_trials=5)  # trial 4 queued a candidate for trial 5
    other = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
    for t in study.trials:
        other.add_trial(t)
    other.add_trial(optuna.trial.create_trial(params=study.trials[0].params,
                                              distributions=study.trials[0].distributions,
                                              values=list(study.trials[0].values)))
    asked = other.ask(SPACE)  # number 6, not 5: proposes afresh
    assert asked.number == 6
    assert "n_train" in other._storage.get_trial(asked._trial_id).system_attrs[MODEL_DATA]
    with pytest.raises(ConfigError, match="batch >= 1"):
        TrifrontSampler(reference_point=REF, batch=0)
