"""The atlas: a tiny two-study atlas on German credit, checked against its storage."""

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from trifront.analysis.atlas import KNOBS, fair_end, knobs_on, privacy_cost_class
from trifront.analysis.reevaluate import (
    CACHE_PREFIX,
    VAL_CACHE_PREFIX,
    front_trials,
    reevaluation_seeds,
)
from trifront.analysis.tradeoffs import FAIRNESS_LEVELS, PRIVACY_LEVELS
from trifront.atlas import AtlasConfig, atlas_study_name, run_atlas
from trifront.caveats import single_epsilon_caveats
from trifront.crossval import scored_majority_rate
from trifront.errors import ConfigError
from trifront.fairness.knobs import (
    FAIR_TARGET_OFF_FROM,
    FAIR_WEIGHT_OFF_BELOW,
    REWEIGH_OFF_BELOW,
    THRESHOLDS_OFF_FROM,
)
from trifront.fairness.metrics import run_gap
from trifront.report.atlas import fronts_figure
from trifront.runner import RunConfig, run_study
from trifront.study import study_problem

METRICS = ("demographic_parity", "equalized_odds")
# Eight epochs: the anchors (target epsilon 0.5, 1, 3) then beat the constant predictor
# at epsilon 1 and 3 but not at 0.5. Seeded noise: the same numbers on every run.
TINY = {"space": {"epochs": {"low": 8, "high": 8}}, "reproducible": True}


def _config(out: Path, **kw) -> AtlasConfig:
    base = dict(out=out, datasets=["german"], models=["logreg"], metrics=list(METRICS),
                trials=3, seeds=1, jobs=1, settings=TINY)
    return AtlasConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    """The tiny atlas, run after one of its studies was stopped half-way (2 of 3 trials)."""
    out = tmp_path_factory.mktemp("atlas") / "out"
    config = _config(out)
    out.mkdir()
    half = RunConfig.from_settings(config.run_settings("german", "logreg", METRICS[0])
                                   .replace(trials=2))
    before = {t.number: t.datetime_start for t in
              run_study(half, progress=False).get_trials(deepcopy=False)}
    result = run_atlas(config, progress=False)
    return config, result, before


def _study(config: AtlasConfig, metric: str) -> optuna.Study:
    name = atlas_study_name("german", "logreg", metric)
    return optuna.load_study(study_name=name, storage=config.storage_url)


def _entries(result) -> dict[str, dict]:
    return {s["study"]: s for s in result.data["studies"]}


def test_atlas_json_holds_one_entry_per_study(atlas):
    config, result, _ = atlas
    data = json.loads(result.paths["atlas.json"].read_text())
    assert data == json.loads(json.dumps(result.data))  # the file is what was returned
    assert [s["study"] for s in data["studies"]] == [
        "atlas-german-logreg-demographic_parity", "atlas-german-logreg-equalized_odds"]
    for s, metric in zip(data["studies"], METRICS, strict=True):
        assert (s["dataset"], s["model"], s["fairness_metric"]) == ("german", "logreg", metric)
        assert s["n_trials"] == 3 == len(_study(config, metric).trials)
        assert (Path(config.out) / s["report"]).is_file()
        assert set(s["price_of_privacy"]["limits"]) == {f"{e:g}" for e in PRIVACY_LEVELS}
        assert set(s["price_of_fairness"]["limits"]) == {f"{u:g}" for u in FAIRNESS_LEVELS}
        assert s["privacy_cost_class"] in ("nearly free", "moderate", "expensive")
    assert data["settings"]["trials"] == 3 and data["settings"]["seeds"] == 1
    assert data["seconds"] > 0


def test_a_half_study_resumes_instead_of_starting_again(atlas):
    config, _, before = atlas
    trials = _study(config, METRICS[0]).get_trials(deepcopy=False)
    assert len(before) == 2 and len(trials) == 3
    assert {t.number: t.datetime_start for t in trials[:2]} == before


def test_front_entries_are_the_stored_values(atlas):
    config, result, _ = atlas
    for metric in METRICS:
        study = _study(config, metric)
        entry = _entries(result)[study.study_name]
        by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
        assert [p["trial"] for p in entry["front"]] == sorted(
            (t.number for t in front_trials(study)), key=lambda n: by_number[n].values[1])
        assert entry["front"], "the anchors at epsilon 1 and 3 beat the constant predictor"
        for p in entry["front"]:
            t = by_number[p["trial"]]
            assert p["epsilon"] == t.values[1] and p["params"] == t.params
            assert p["search_val_accuracy"] == t.values[0]
            test = study.user_attrs[f"{CACHE_PREFIX}{t.number}"]["runs"]
            # recommend may have confirmed it with more runs; the front shows the first ones.
            first = set(reevaluation_seeds(study, t, config.seeds))
            val = [r for r in study.user_attrs[f"{VAL_CACHE_PREFIX}{t.number}"]["runs"]
                   if r["seed"] in first]
            assert p["test_accuracy"] == pytest.approx(np.mean([r["accuracy"] for r in test]))
            assert p["test_unfairness"] == pytest.approx(np.mean([r["unfairness"] for r in test]))
            assert p["val_mean_accuracy"] == pytest.approx(np.mean([r["accuracy"] for r in val]))
            assert p["test_accuracy_std"] is None  # one seed: no spread
            assert p["knobs"] == knobs_on(t.params)
            assert p["uses_sensitive_at_prediction"] == bool(
                t.user_attrs.get("uses_sensitive_at_prediction", False))


def test_majority_rate_is_the_constant_predictors_test_accuracy(atlas):
    config, result, _ = atlas
    data = study_problem(_study(config, METRICS[0])).data()
    majority = int(np.mean(data.train.y) >= 0.5)
    for s in result.data["studies"]:
        assert s["majority_rate"] == pytest.approx(np.mean(data.test.y == majority))


def _val_numbers(study: optuna.Study, trial: int, runs: int) -> tuple[float, float]:
    """Mean held-out accuracy and run gap of a trial's first ``runs`` cached runs."""
    t = study.trials[trial]
    cached = {r["seed"]: r for r in study.user_attrs[f"{VAL_CACHE_PREFIX}{trial}"]["runs"]}
    chosen = [cached[seed] for seed in reevaluation_seeds(study, t, runs)]
    gap = run_gap([r["cells"] for r in chosen], metric=study_problem(study).fairness)
    return float(np.mean([r["accuracy"] for r in chosen])), gap


def _by_hand(config: AtlasConfig, entry: dict, max_epsilon: float = math.inf,
             max_unfairness: float = math.inf) -> int | None:
    """recommend's documented rule, from the raw caches: the front configurations that
    qualify on their first ``seeds`` runs, best first, three at a time confirmed on twice
    the runs; the best still qualifying wins (None: the constant predictor)."""
    study = optuna.load_study(study_name=entry["study"], storage=config.storage_url)
    constant = scored_majority_rate(study_problem(study).data(), cv_folds=5)
    n = config.seeds

    def ok(trial: int, eps: float, runs: int) -> tuple | None:
        acc, gap = _val_numbers(study, trial, runs)
        good = acc > constant and eps <= max_epsilon and gap <= max_unfairness
        return (-acc, eps, gap, trial) if good else None

    ranked = sorted(q for f in entry["front"] if (q := ok(f["trial"], f["epsilon"], n)))
    for i in range(0, len(ranked), 3):
        group = [q for r in ranked[i:i + 3] if (q := ok(r[3], r[1], 2 * n))]
        if group:
            return min(group)[3]
    return None


@pytest.mark.parametrize("price", ["price_of_privacy", "price_of_fairness"])
def test_prices_are_choices_on_validation_scored_on_test(atlas, price):
    config, result, _ = atlas
    kinds = set()
    for s in result.data["studies"]:
        p = s[price]
        by_trial = {f["trial"]: f for f in s["front"]}
        free = p["no_limit"]
        best = _by_hand(config, s)
        assert not free["constant"] and free["trial"] == best
        assert free["test_accuracy"] == by_trial[best]["test_accuracy"]  # its test score
        for key, c in p["limits"].items():
            limit = ({"max_epsilon": float(key)} if price == "price_of_privacy"
                     else {"max_unfairness": float(key)})
            chosen = _by_hand(config, s, **limit)
            assert c["price_points"] == pytest.approx(
                100 * (free["test_accuracy"] - c["test_accuracy"]))
            if chosen is not None:
                assert not c["constant"] and c["trial"] == chosen
                assert c["test_accuracy"] == by_trial[chosen]["test_accuracy"]
            else:  # the constant predictor is the honest choice
                assert c["constant"] and c["trial"] is None and c["epsilon"] == 0.0
                assert c["test_accuracy"] == s["majority_rate"]
            kinds.add(c["constant"])
    if price == "price_of_privacy":
        assert kinds == {True, False}  # both branches are exercised
    for s in result.data["studies"]:
        one = s["price_of_privacy"]["limits"]["1"]["price_points"]
        assert s["privacy_cost_class"] == privacy_cost_class(one)


def test_index_html_is_self_contained_and_links_each_report(atlas):
    config, result, _ = atlas
    page = result.paths["index.html"].read_text()
    assert "<script src" not in page and "<link" not in page and "<iframe" not in page
    assert "Plotly.newPlot" in page and page.count("Plotly.newPlot") == 1
    for s in result.data["studies"]:
        assert f'href="{s["report"]}"' in page
        assert (result.paths["index.html"].parent / s["report"]).is_file()
    assert "choices made on validation and scored on test" in page
    one_run = single_epsilon_caveats(delta=1e-5, n_trials=3)[0].split("**")[0]
    assert one_run.replace("Each epsilon in this report is", "") in page
    assert "noise_seeded=true" in page  # the seeded test atlas says so
    # atlas.json shows epsilons too, so it carries the same caveats
    caveats = json.loads(result.paths["atlas.json"].read_text())["caveats"]
    assert any(one_run.replace("Each epsilon in this report is", "") in c for c in caveats)
    assert any("noise_seeded=true" in c for c in caveats)


def test_fronts_share_axes_and_colour_scale(atlas):
    _, result, _ = atlas
    studies = result.data["studies"]
    fig = fronts_figure(studies)
    layout = fig.layout
    assert layout.xaxis.type == "log" and layout.xaxis2.type == "log"
    assert layout.xaxis2.matches == "x" and layout.yaxis2.matches == "y"
    gaps = [p["test_unfairness"] for s in studies for p in s["front"]]
    assert layout.coloraxis.cmin == 0 and layout.coloraxis.cmax == pytest.approx(max(gaps))
    for trace, s in zip(fig.data, studies, strict=True):
        want = [100 * (p["test_accuracy"] - s["majority_rate"]) for p in s["front"]]
        assert list(trace.y) == pytest.approx(want)
        assert trace.marker.coloraxis == "coloraxis"


def test_a_second_atlas_adds_no_trial_and_trains_nothing(atlas, monkeypatch, capsys):
    config, result, _ = atlas

    def no_training(*args, **kwargs):
        raise AssertionError("the second atlas trained something")

    monkeypatch.setattr("trifront.trial.evaluate", no_training)
    monkeypatch.setattr("trifront.analysis.reevaluate.evaluate", no_training)
    monkeypatch.setattr("trifront.analysis.references.tuned_nonprivate", no_training)
    monkeypatch.setattr("trifront.analysis.references.fair_nonprivate", no_training)
    before = {m: (len(_study(config, m).trials), _study(config, m).user_attrs) for m in METRICS}
    again = run_atlas(config, progress=True)
    assert {m: (len(_study(config, m).trials), _study(config, m).user_attrs)
            for m in METRICS} == before
    assert again.data["studies"] == result.data["studies"]
    err = capsys.readouterr().err
    total = 2 * (3 + 1)
    assert f"{total}/{total}" in err and "atlas atlas-german-logreg" in err


def test_fair_end_counts_knobs_among_fair_configurations_that_beat_the_constant():
    front = pd.DataFrame({
        "trial": [1, 2, 3, 4],
        "epsilon": [0.5, 1.0, 2.0, 3.0],
        "val_mean_accuracy": [0.80, 0.75, 0.85, 0.60],
        "val_mean_unfairness": [0.01, 0.02, 0.10, 0.0],
        "test_accuracy": [0.79, 0.76, 0.84, 0.61],
        "test_unfairness": [0.02, 0.02, 0.09, 0.0],
        "knobs": [["fair_weight", "reweigh"], [], ["reweigh"], ["group_thresholds"]],
    })
    end = fair_end(front, constant_validation=0.7)
    # Trial 3 is too unfair; trial 4 does not beat the constant predictor.
    assert end["n_configurations"] == 2
    assert end["knob_counts"] == {"fair_weight": 1, "reweigh": 1, "fair_target": 0,
                                  "group_thresholds": 0, "none": 1}
    assert end["most_accurate"]["trial"] == 1
    assert end["most_accurate"]["knobs"] == ["fair_weight", "reweigh"]
    assert fair_end(front, constant_validation=0.9) is None


def test_knobs_on_uses_the_documented_off_zones():
    off = {"fair_weight": FAIR_WEIGHT_OFF_BELOW / 2, "reweigh": REWEIGH_OFF_BELOW / 2,
           "group_thresholds": THRESHOLDS_OFF_FROM, "fair_target": FAIR_TARGET_OFF_FROM}
    assert knobs_on(off) == []
    on = {"fair_weight": FAIR_WEIGHT_OFF_BELOW, "reweigh": REWEIGH_OFF_BELOW,
          "group_thresholds": THRESHOLDS_OFF_FROM * 0.99, "fair_target": 0.0}
    assert knobs_on(on) == list(KNOBS)
    assert knobs_on({"clip": 1.0}) == []


def test_names_may_be_one_comma_separated_string(tmp_path):
    config = AtlasConfig(out=tmp_path, datasets="german, compas", models="logreg",
                         metrics="equalized_odds")
    assert config.cells() == [("german", "logreg", "equalized_odds"),
                              ("compas", "logreg", "equalized_odds")]
    assert config.storage_url == f"sqlite:///{tmp_path.resolve() / 'atlas.db'}"


def test_privacy_cost_classes():
    assert privacy_cost_class(0.99) == "nearly free"
    assert privacy_cost_class(1.0) == "moderate" and privacy_cost_class(3.0) == "moderate"
    assert privacy_cost_class(3.01) == "expensive"
    assert privacy_cost_class(math.nan) == "unknown"


@pytest.mark.parametrize("change, word", [
    ({"datasets": ["german", "adlt"]}, "adlt"),
    ({"models": ["objpert"]}, "objpert"),
    ({"metrics": ["parity"]}, "parity"),
    ({"trials": 0}, "trials=0"),
    ({"seeds": 0}, "seeds=0"),
    ({"settings": {"dataset": "adult"}}, "dataset"),
])
def test_bad_config_is_refused_before_anything_is_written(tmp_path, change, word):
    with pytest.raises(ConfigError, match=word):
        _config(tmp_path / "out", **change)
    assert not (tmp_path / "out").exists()


def test_fairness_under_privacy_is_priced_against_the_private_choice(atlas):
    config, result, _ = atlas
    for s in result.data["studies"]:
        p = s["price_of_fairness_private"]
        assert p["max_epsilon"] == 1.0
        base = p["no_limit"]
        assert base["trial"] == _by_hand(config, s, 1.0)
        assert base["constant"] == (base["trial"] is None)
        for key, c in p["limits"].items():
            assert c["max_epsilon"] == 1.0 and c["max_unfairness"] == float(key)
            assert c["trial"] == _by_hand(config, s, 1.0, float(key))
            assert c["price_points"] == pytest.approx(
                100 * (base["test_accuracy"] - c["test_accuracy"]))
        # The non-private references are the report's, read from the study's cache.
        study = optuna.load_study(study_name=s["study"], storage=config.storage_url)
        cached = {k: v for k, v in study.user_attrs.items() if k.startswith("reference:")}
        assert len(s["references"]) == len(cached) >= 2
        assert {r["test_accuracy"] for r in s["references"]} == {
            v["test_accuracy"] for v in cached.values()}


def test_every_pair_of_limits_has_its_validation_choice_and_knobs(atlas):
    config, result, _ = atlas
    for s in result.data["studies"]:
        pairs = {(c["max_epsilon"], c["max_unfairness"]) for c in s["choices"]}
        assert pairs == {(e, u) for e in PRIVACY_LEVELS for u in FAIRNESS_LEVELS}
        by_trial = {f["trial"]: f for f in s["front"]}
        for c in s["choices"]:
            expected = _by_hand(config, s, c["max_epsilon"], c["max_unfairness"])
            assert c["trial"] == expected
            if expected is None:
                assert c["constant"] and c["knobs"] is None
            else:
                assert c["knobs"] == by_trial[expected]["knobs"]
                assert c["test_accuracy"] == by_trial[expected]["test_accuracy"]
