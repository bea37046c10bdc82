"""A private-tuning study meets the selection theorem's preconditions, run by run.

Each test guards one precondition of Papernot & Steinke's theorem as the
study uses it (see ``trifront.privtune.study``): per-row split membership;
every run the same mechanism with its hyperparameters drawn regardless of
earlier results; released numbers read from noisy counts only; the number of
runs in no output.
"""

import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from trifront.datasets import Split, load_dataset
from trifront.datasets.private_split import resplit_independently
from trifront.privtune import study as pt
from trifront.privtune.count import RunCount
from trifront.privtune.scoring import metrics_from_counts, score_counts, selection_key
from trifront.settings import Settings


def _settings(tmp_path, name="pt", **kw):
    base = {"dataset": "german", "private_tuning": True, "study_epsilon": 3.0,
            "mean_trials": 3.0, "shape": "geometric", "epochs": 2, "batch_size": 64,
            "delta": 1e-4, "storage": f"sqlite:///{tmp_path / 'pt.db'}", "study": name,
            "max_unfairness": 0.2}
    return Settings(**{**base, **kw})


def _seeded(tmp_path, name, **kw):
    return _settings(tmp_path, name, reproducible=True, acknowledge_seeded_noise=True, **kw)


class _Recorder:
    """Wraps fit and noisy_counts to see what every run trained with and released from."""

    def __init__(self, monkeypatch):
        self.fits, self.counts = [], []
        real_fit, real_noisy = pt.fit, pt.noisy_counts

        def fit(problem, params, **kw):
            fitted = real_fit(problem, params, **kw)
            weights = {k: v.clone() for k, v in fitted.model.state_dict().items()}
            self.fits.append({"params": dict(params), "plan": kw["plan"], "weights": weights})
            return fitted

        def noisy(y_pred, y, s, *, n_groups, noise_multiplier, rng):
            out = real_noisy(y_pred, y, s, n_groups=n_groups, noise_multiplier=noise_multiplier,
                             rng=rng)
            self.counts.append({"exact": score_counts(y_pred, y, s, n_groups), "noisy": out,
                                "noise_multiplier": noise_multiplier, "n_groups": n_groups})
            return out

        monkeypatch.setattr(pt, "fit", fit)
        monkeypatch.setattr(pt, "noisy_counts", noisy)


def test_every_run_is_the_accounted_mechanism_and_the_release_reads_noisy_counts_only(
        tmp_path, monkeypatch):
    rec = _Recorder(monkeypatch)
    monkeypatch.setattr(RunCount, "draw", lambda self, rng: 4)
    result = pt.run_private_study(_settings(tmp_path), progress=False)
    info = result.privacy
    per_run = info["per_run"]
    assert len(rec.fits) == 4 and len(rec.counts) == 8  # validation then test, per run
    for call in rec.fits:
        plan = call["plan"]
        assert (plan.noise_multiplier, plan.sample_rate, plan.steps) == (
            per_run["noise_multiplier"], per_run["sample_rate"], per_run["steps"])
        assert [*plan.stats.gaussians] == per_run["extra_gaussians"][:-2]
    assert {c["noise_multiplier"] for c in rec.counts} == {per_run["extra_gaussians"][-1]}
    assert per_run["extra_gaussians"][-2] == per_run["extra_gaussians"][-1]
    # every released number is post-processing of one run's noisy counts
    metric = info["selection"]["fairness_metric"]
    val = [metrics_from_counts(c["noisy"], n_groups=c["n_groups"], metric=metric)
           for c in rec.counts[0::2]]
    test = [metrics_from_counts(c["noisy"], n_groups=c["n_groups"], metric=metric)
            for c in rec.counts[1::2]]
    released = info["released"]
    chosen = [i for i, (a, g) in enumerate(test)
              if (a, g) == (released["test_accuracy"], released["test_unfairness"])]
    assert len(chosen) == 1
    keys = [selection_key(a, g, 0.2) for a, g in val]
    assert keys[chosen[0]] == max(keys)
    assert released["hyperparameters"] == rec.fits[chosen[0]]["params"]
    # the noise was really added: the exact counts are not what was read
    assert all(np.abs(c["noisy"] - c["exact"]).max() > 0 for c in rec.counts)


def _drop_one(split, row):
    keep = np.arange(len(split.y)) != row
    return Split(X=split.X[keep], y=split.y[keep], s=split.s[keep])


@pytest.mark.parametrize("part", ["val", "test"])
def test_a_changed_validation_or_test_row_reaches_the_release_only_through_its_counts(
        tmp_path, monkeypatch, part):
    """Same secret seed, one row removed: training and draws are identical; counts move <= sqrt3.

    Adding or removing one row is the neighbouring relation every accountant
    here assumes (a changed row is two such steps).
    """
    real = pt.resplit_independently
    runs = []
    for changed in (False, True):
        def resplit(ds, rng, changed=changed):
            out = real(ds, rng)
            if changed:
                out = replace(out, **{part: _drop_one(getattr(out, part), 3)})
            return out

        monkeypatch.setattr(pt, "resplit_independently", resplit)
        rec = _Recorder(monkeypatch)
        pt.run_private_study(_seeded(tmp_path, f"n{part}{changed}"), progress=False)
        runs.append(rec)
        monkeypatch.undo()
    assert runs[0].counts and runs[1].counts
    same, other = runs
    assert len(same.fits) == len(other.fits) >= 1
    for a, b in zip(same.fits, other.fits, strict=True):
        assert a["params"] == b["params"]  # candidates do not depend on any score
        for k in a["weights"]:
            assert torch.equal(a["weights"][k], b["weights"][k])
    which = 0 if part == "val" else 1
    for i, (a, b) in enumerate(zip(same.counts, other.counts, strict=True)):
        shift = b["noisy"] - a["noisy"]
        assert np.allclose(shift, b["exact"] - a["exact"])  # the noise itself is the same
        if i % 2 == which:
            assert 0 < np.linalg.norm(shift) <= np.sqrt(3) + 1e-9
        else:
            assert np.linalg.norm(shift) == 0


def test_the_number_of_runs_is_in_no_output(tmp_path, monkeypatch):
    outputs = []
    for k in (1, 5):
        monkeypatch.setattr(RunCount, "draw", lambda self, rng, k=k: k)
        result = pt.run_private_study(_seeded(tmp_path, f"k{k}"), progress=False)
        paths = pt.write_outputs(result, tmp_path / f"out{k}", command="test")
        info = json.loads(paths["study_privacy.json"].read_text())
        card = json.loads((paths["model"] / "card.json").read_text())
        assert card["source"]["n_trials"] is None and card["source"]["trial"] is None
        assert card["epsilon"] == info["epsilon"]
        outputs.append(info)
    stripped = []
    for info in outputs:
        info = copy.deepcopy(info)
        info.pop("released")
        stripped.append(info)
    # all but the release (no count, no wall time) is equal for K=1 and K=5
    assert stripped[0] == stripped[1]
    assert set(outputs[0]["released"]) == set(outputs[1]["released"])
    assert outputs[0]["noise_seeded"] is True
    assert any("noise_seeded=true" in c for c in outputs[0]["caveats"])


def test_split_membership_is_per_row():
    """Adding a row to the file leaves every other row's split as it was (same draws)."""
    ds = load_dataset("german", seed=0)
    extra = Split(X=ds.test.X[:1], y=ds.test.y[:1], s=ds.test.s[:1])
    grown = replace(ds, test=Split(X=np.concatenate([ds.test.X, extra.X]),
                                   y=np.concatenate([ds.test.y, extra.y]),
                                   s=np.concatenate([ds.test.s, extra.s])))
    a = resplit_independently(ds, np.random.default_rng(5))
    b = resplit_independently(grown, np.random.default_rng(5))
    sizes = [(len(a.train), len(b.train)), (len(a.val), len(b.val)), (len(a.test), len(b.test))]
    assert sum(y - x for x, y in sizes) == 1  # the new row went to exactly one split
    for (x, _), part in zip(sizes, ("train", "val", "test"), strict=True):
        pa, pb = getattr(a, part), getattr(b, part)
        assert np.array_equal(pb.X[:x], pa.X) and np.array_equal(pb.y[:x], pa.y)
    # and membership is random: the fractions are the loaders' on average
    n = len(ds.train) + len(ds.val) + len(ds.test)
    assert abs(len(a.test) / n - ds.test_fraction) < 0.05


def test_the_released_model_is_exported_with_the_study_guarantee(tmp_path):
    from trifront.deploy import load_model

    result = pt.run_private_study(_settings(tmp_path, "export"), progress=False)
    paths = pt.write_outputs(result, tmp_path / "out", command="trifront run --private-tuning")
    info = json.loads(paths["study_privacy.json"].read_text())
    for key in ("epsilon", "delta", "accountant", "distribution", "per_run", "selection",
                "released"):
        assert key in info
    assert set(info["distribution"]) == {"name", "mean", "shape"}
    assert {"noise_multiplier", "sample_rate", "steps", "extra_gaussians"} <= set(
        info["per_run"])
    assert info["epsilon"] <= 3.0
    model = load_model(paths["model"])
    card = json.loads((paths["model"] / "card.json").read_text())
    assert card["accountant"] == "rdp-repeat-and-select"
    assert any("whole private-tuning study" in line for line in card["epsilon_does_not_cover"])
    assert not any("one** training run" in line for line in card["epsilon_does_not_cover"])
    X = result.data.test.X[:5]
    assert model is not None and len(X) == 5


def test_the_adaptive_runner_refuses_private_tuning_settings(tmp_path):
    import trifront
    from trifront.errors import ConfigError

    with pytest.raises(ConfigError, match="run_private_study"):
        trifront.run(dataset="german", private_tuning=True, study_epsilon=2.0,
                     storage=f"sqlite:///{tmp_path / 'x.db'}", progress=False)
    assert not (tmp_path / "x.db").exists()
