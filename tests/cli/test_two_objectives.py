"""Issue 20: the 2-D modes (``--objectives``), DPareto's privacy-utility front among them."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from trifront.cli import main


def _pareto_2d(acc: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Rows no other row beats in (accuracy up, other down): written out pairwise."""
    keep = []
    for i in range(len(acc)):
        beaten = any(acc[j] >= acc[i] and other[j] <= other[i]
                     and (acc[j] > acc[i] or other[j] < other[i]) for j in range(len(acc)))
        keep.append(not beaten)
    return np.array(keep)


@pytest.fixture(scope="module")
def privacy_utility(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two_d")
    db = tmp / "s.db"
    code = main(["run", "--dataset", "adult", "--model", "logreg", "--objectives",
                 "accuracy,epsilon", "--trials", "6", "--startup-trials", "3", "--cv-folds", "1",
                 "--storage", f"sqlite:///{db}", "--study", "pu", "--out", str(tmp / "run"),
                 "--no-progress", "--reproducible", "--jobs", "1"])  # fixed outcomes
    assert code == 0
    return tmp, db


def test_the_front_is_the_2d_front_of_the_trials(privacy_utility):
    tmp, _ = privacy_utility
    trials = pd.read_csv(tmp / "run" / "trials.csv")
    front = pd.read_csv(tmp / "run" / "front.csv")
    done = trials[trials["state"] == "COMPLETE"]
    # No fairness knob was searched: the gap is measured, never traded for.
    assert not {"fair_weight", "reweigh", "group_thresholds"} & set(trials.columns)
    assert done["unfairness"].notna().all()
    majority = float(front.loc[front["configuration"] == "constant predictor", "accuracy"].iloc[0])
    mask = _pareto_2d(done["accuracy"].to_numpy(), done["epsilon"].to_numpy())
    expected = set(done.loc[mask & (done["accuracy"] > majority).to_numpy(), "trial"])
    assert expected  # a real front, not two empty sets
    # and a 2-D one: some trial on the 3-D front (a smaller gap) is not on it
    gaps = done["unfairness"].to_numpy()
    three_d = [i for i in range(len(done)) if not any(
        done["accuracy"].iloc[j] >= done["accuracy"].iloc[i]
        and done["epsilon"].iloc[j] <= done["epsilon"].iloc[i] and gaps[j] <= gaps[i]
        and (done["accuracy"].iloc[j] > done["accuracy"].iloc[i]
             or done["epsilon"].iloc[j] < done["epsilon"].iloc[i] or gaps[j] < gaps[i])
        for j in range(len(done)))]
    on_3d = {int(done["trial"].iloc[i]) for i in three_d
             if done["accuracy"].iloc[i] > majority}
    assert expected < on_3d
    assert set(front["trial"].dropna().astype(int)) == expected


def test_the_report_says_which_front_it_shows(privacy_utility, capsys):
    tmp, db = privacy_utility
    code = main(["report", "pu", "--storage", f"sqlite:///{db}", "--out", str(tmp / "report"),
                 "--no-reevaluate", "--no-png", "--no-progress"])
    assert code == 0
    summary = (tmp / "report" / "summary.md").read_text()
    assert "2-D privacy-utility front" in summary


def test_resuming_with_other_objectives_is_refused_and_loses_nothing(privacy_utility, capsys):
    tmp, db = privacy_utility
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    code = main(["run", "--dataset", "adult", "--model", "logreg", "--trials", "8",
                 "--cv-folds", "1", "--storage", f"sqlite:///{db}", "--study", "pu",
                 "--out", str(tmp / "again"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "searched the objectives accuracy,epsilon" in err
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_a_2d_study_draws_its_front_in_two_dimensions(privacy_utility, capsys):
    from trifront.report.front import front_figure

    tmp, db = privacy_utility
    trials = pd.read_csv(tmp / "run" / "trials.csv")
    mask = np.zeros(len(trials), dtype=bool)
    mask[0] = True
    fig = front_figure(trials, mask, params=[], title="t", objectives=("accuracy", "epsilon"))
    assert {t.type for t in fig.data} == {"scatter"}
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.title.text == "accuracy"
    gap = front_figure(trials, mask, params=[], title="t",
                       objectives=("accuracy", "unfairness"))
    assert list(gap.data[1].x) == [trials["unfairness"].iloc[0]]
    assert {t.type for t in front_figure(trials, mask, params=[], title="t").data} == {
        "scatter3d"}
    out = tmp / "report2"
    assert main(["report", "pu", "--storage", f"sqlite:///{db}", "--out", str(out),
                 "--no-reevaluate", "--no-png", "--no-progress"]) == 0
    page = (out / "index.html").read_text()
    assert "The 2-D front (accuracy, epsilon)" in page and "The 3-D front" not in page
    assert "Hypervolume of (accuracy, −log10 ε) above" in page
