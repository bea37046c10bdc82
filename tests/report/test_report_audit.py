"""``trifront report --audit``: the claim beside the empirical lower bound."""

from __future__ import annotations

import json

from handmade import make_study

from trifront.audit import MEANING
from trifront.report.build import write_report


def test_report_audits_the_recommended_configuration(tmp_path):
    study = make_study()
    paths = write_report(study, tmp_path, n_seeds=3, png=False, progress=False,
                         audit="recommended", audit_canaries=20, reproducible=True)
    report = json.loads(paths["report.json"].read_text())
    (row,) = report["audit"]
    assert row["trial"] == 3  # the best test accuracy of the front, with no limits
    assert row["epsilon_lower_bound"] <= row["epsilon"] and not row["violated"]
    assert row["canaries"] == 20
    summary = paths["summary.md"].read_text()
    assert "Privacy audit of trial 3" in summary and MEANING in summary
    page = (tmp_path / "index.html").read_text()
    assert "Claimed ε and an empirical lower bound" in page
    assert paths["audit.csv"].exists()


def test_report_audits_every_front_configuration(tmp_path):
    study = make_study()
    paths = write_report(study, tmp_path, reevaluate_test=False, png=False, progress=False,
                         audit="all", audit_canaries=10, reproducible=True)
    rows = json.loads(paths["report.json"].read_text())["audit"]
    assert [r["trial"] for r in rows] == [0, 1, 2, 3]
    assert all(r["epsilon_lower_bound"] <= r["epsilon"] for r in rows)
