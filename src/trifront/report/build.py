"""The decision-maker's report of one study: ``index.html``, CSVs, PNGs and ``summary.md``.

``write_report`` gathers the analysis (Pareto set, hypervolume history, test
re-evaluation, trade-off curves, importances, privacy caveats) and writes:

* ``index.html``: self-contained (plotly inlined once), no network request;
* ``trials.csv``, ``front.csv`` (the front with its test re-evaluation columns);
* ``projections.png``, ``hypervolume.png``, ``reevaluation.png``,
  ``tradeoffs.png`` (when matplotlib is installed);
* ``summary.md``: the trade-offs in numbers and what epsilon does not cover;
* ``report.json``: the same facts for scripts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from trifront.analysis.frames import trials_frame
from trifront.analysis.importance import objective_importances
from trifront.analysis.pareto import front_mask, hypervolume_history, with_constant
from trifront.analysis.reevaluate import (
    DEFAULT_SEEDS,
    cached_run_records,
    reevaluate,
)
from trifront.analysis.references import Reference, references
from trifront.analysis.tradeoffs import price_of_fairness, price_of_privacy
from trifront.analysis.tuning import tuning_privacy as compose_tuning
from trifront.caveats import caveat_flags
from trifront.deploy.command import export_command
from trifront.objectives import OBJECTIVES
from trifront.report.figures import (
    hypervolume_figure,
    importance_figure,
    projections_figure,
    reevaluation_figure,
    tradeoff_figure,
)
from trifront.report.front import front_figure, units_caption
from trifront.report.html import Section, render_page, table_html
from trifront.report.static import PNG_HINT, write_pngs
from trifront.report.summary import (
    ReportFacts,
    epsilon_caveats,
    refinement_lines,
    summary_lines,
    summary_markdown,
)
from trifront.study import study_objectives, study_problem, study_refinements, study_settings

__all__ = ["json_safe", "write_report"]

#: How each objective enters the hypervolume (maximisation form).
_HV_FORM = {"accuracy": "accuracy", "epsilon": "−log10 ε", "unfairness": "−gap"}

_TABLE_COLS = ["trial", "epsilon", "val_accuracy", "val_accuracy_se", "test_accuracy",
               "test_accuracy_std", "val_unfairness", "val_unfairness_se", "test_unfairness",
               "test_unfairness_std", "on_test_front"]


def json_safe(obj: Any) -> Any:
    """``obj`` with non-finite floats as None and numpy scalars as Python ones (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    return obj


def write_report(
    study: optuna.Study,
    out_dir: str | Path,
    *,
    n_seeds: int = DEFAULT_SEEDS,
    reevaluate_test: bool = True,
    tuning_privacy: bool = False,
    png: bool = True,
    progress: bool = True,
    reproducible: bool = False,
    storage_url: str | None = None,
    audit: str | None = None,
    audit_canaries: int = 1000,
) -> dict[str, Path]:
    """Write the full report of a trifront study.

    Args:
        study: A trifront study (made by ``trifront run``).
        out_dir: Output directory (created if missing).
        n_seeds: Seeds per configuration in the test re-evaluation (``R``).
        reevaluate_test: Retrain the Pareto set on the test split (cached in the
            study); False reports validation values only and trains nothing.
        tuning_privacy: Add the composed privacy cost of the whole study.
        png: Also write PNG figures (needs matplotlib).
        progress: Show the re-evaluation progress bar on stderr.
        reproducible: Seed the re-evaluation runs' noise from their public
            seeds (research mode; flagged ``noise_seeded`` in the report).
        storage_url: The study's storage URL, for the ``trifront export``
            command printed beside each front configuration.
        audit: ``"recommended"`` or ``"all"``: audit that front configuration
            (or each) once with :mod:`trifront.audit` and show the claimed
            epsilon beside the empirical lower bound; None: no audit.
        audit_canaries: Canaries per audit.

    Returns:
        The written paths keyed by file name.

    Raises:
        StorageError: If the study was not made by trifront.
        ConfigError: If ``n_seeds < 1``.
    """
    settings = study_settings(study)
    problem = study_problem(study)
    if reproducible:
        problem = replace(problem, reproducible=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    frame = trials_frame(study)
    complete = frame[frame["state"] == "COMPLETE"].reset_index(drop=True)
    values = complete[list(OBJECTIVES)].to_numpy(dtype=float)
    searched = study_objectives(study)
    mask = front_mask(values, majority_rate=settings.get("majority_rate"), objectives=searched)
    ref = settings.get("reference_point")
    all_values = frame[list(OBJECTIVES)].to_numpy(dtype=float)
    hv = (hypervolume_history(all_values, reference_point=ref, objectives=searched)
          if ref and len(frame)
          else np.zeros(len(frame)))
    params = sorted({k for t in study.get_trials(deepcopy=False) for k in t.params})

    points: pd.DataFrame | None = None
    refs: list[Reference] = []
    if reevaluate_test and len(complete):
        points = reevaluate(study, n_seeds=n_seeds, progress=progress, problem=problem)
        refs = references(study, problem)
    constant = float(settings.get("majority_rate", math.nan))
    front_val = complete[mask].sort_values("epsilon").reset_index(drop=True)
    facts = ReportFacts(
        study_name=study.study_name, settings=settings, n_complete=len(complete),
        n_failed=int((frame["state"] == "FAIL").sum()) if len(frame) else 0,
        front_size=int(mask.sum()), points=points if points is not None else front_val,
        tested=points is not None, n_seeds=n_seeds, references=refs,
        constant_accuracy=constant,
    )
    acc_col, gap_col = facts.accuracy_col, facts.unfairness_col
    privacy_curve = price_of_privacy(facts.points, accuracy=acc_col, unfairness=gap_col)
    fairness_curve = price_of_fairness(facts.points, accuracy=acc_col, unfairness=gap_col)
    reference_lines = {r.name: r.test_accuracy for r in refs}
    reference_lines["constant predictor"] = constant
    importances, importance_note = objective_importances(study)
    tuning = compose_tuning(study) if tuning_privacy else None

    # ---- files
    paths: dict[str, Path] = {"trials.csv": out / "trials.csv", "front.csv": out / "front.csv"}
    frame.to_csv(paths["trials.csv"], index=False)
    front_out = front_val
    if points is not None and len(points):
        test_cols = points[["trial", "test_accuracy", "test_accuracy_std", "test_unfairness",
                            "test_unfairness_std", "on_test_front"]].assign(
            test_seeds=[" ".join(map(str, s)) for s in points["seeds"]])
        front_out = front_val.merge(test_cols, on="trial", how="left")
    exports = {int(t): export_command(study.study_name, trial=int(t), out=f"model-trial-{int(t)}",
                                      storage_url=storage_url) for t in front_val["trial"]}
    front_out = front_out.assign(export_command=[exports[int(t)] for t in front_out["trial"]])
    with_constant(front_out, settings.get("majority_rate")).to_csv(paths["front.csv"],
                                                                   index=False)
    refinements = study_refinements(study)
    lines = [*summary_lines(facts), *refinement_lines(refinements, len(frame))]
    audits = None
    if audit is not None:
        from trifront.report.audit import audit_lines, audit_study

        audits = audit_study(study, problem, which=audit, canaries=audit_canaries,
                             n_seeds=n_seeds, progress=progress)
        lines = [*lines, *audit_lines(audits)]
        paths["audit.csv"] = out / "audit.csv"
        audits.to_csv(paths["audit.csv"], index=False)
    flags = caveat_flags([*(t.user_attrs for t in study.get_trials(deepcopy=False)),
                          *cached_run_records(study)])
    caveats = epsilon_caveats(delta=problem.delta, n_trials=len(frame), tuning=tuning,
                              cv_folds=problem.cv_folds,
                              tuning_asked=tuning_privacy, flags=flags)
    title = f"trifront report: {study.study_name}"
    paths["summary.md"] = out / "summary.md"
    paths["summary.md"].write_text(summary_markdown(title, lines, caveats), encoding="utf-8")
    report_json = {
        "study": study.study_name, "settings": settings, "n_seeds": n_seeds,
        "summary": lines, "caveats": caveats, **flags,
        "front": points.drop(columns=["params"]).to_dict("records") if points is not None
        else front_val[["trial", *OBJECTIVES]].to_dict("records"),
        "references": [r.to_dict() for r in refs], "constant_accuracy": constant,
        "importances": importances.to_dict() if importance_note is None else None,
        "tuning_privacy": tuning.to_dict() if tuning else None,
        "export_commands": {str(t): cmd for t, cmd in exports.items()},
        "audit": audits.to_dict("records") if audits is not None else None,
        "refinements": refinements,
    }
    paths["report.json"] = out / "report.json"
    paths["report.json"].write_text(json.dumps(json_safe(report_json), indent=2,
                                               default=str), encoding="utf-8")
    png_note = None
    if png:
        pngs = write_pngs(out, complete=complete, hv=hv, points=points,
                          privacy=privacy_curve if points is not None else None,
                          fairness=fairness_curve if points is not None else None,
                          references=reference_lines)
        paths.update(pngs)
        png_note = None if pngs else PNG_HINT

    # ---- page
    delta = problem.delta
    sections = [Section("summary", "Summary", intro=lines)]
    fig3d = front_figure(complete, mask, params=params, title=f"{len(complete)} completed "
                         f"trials, {int(mask.sum())} on the front", objectives=searched)
    if len(searched) == 3:
        fig3d.update_layout(height=580, scene_camera=dict(eye=dict(x=1.7, y=1.7, z=1.0)))
        heading, how = "The 3-D front", "Drag to rotate, scroll to zoom; hover"
    else:
        fig3d.update_layout(height=480)
        heading = f"The 2-D front ({', '.join(searched)})"
        how = "The study searched these two objectives only; hover"
    sections.append(Section(
        "front", heading,
        intro=[f"{how} a point to see its configuration. Red: Pareto-optimal on the "
               "validation split."],
        figures=[fig3d],
        after=[units_caption(delta)],
    ))
    sections.append(Section("projections", "Two objectives at a time",
                            figures=[projections_figure({study.study_name: complete})],
                            after=["Each panel's line is the 2-D front of that pair of "
                                   "objectives, ignoring the third (validation values)."]))
    sections.append(Section(
        "hypervolume", "Search progress",
        figures=[hypervolume_figure({study.study_name: hv},
                                    title="Hypervolume after each trial")],
        after=[f"Hypervolume of ({', '.join(_HV_FORM[o] for o in searched)}) above the "
               f"reference point {ref}."],
    ))
    if points is not None:
        # Standard errors exist where the search cross-validated (small data sets).
        shown = points[[c for c in _TABLE_COLS if c in points
                        and not (c.endswith("_se") and points[c].isna().all())]
                       + [p for p in params if p in points]]
        sections.append(Section(
            "test", "Test-set re-evaluation",
            intro=[f"Each front configuration retrained with {n_seeds} seeds (the trial's "
                   "seed + 0 … R−1) and scored on the untouched test split; red rows fall off "
                   "the front on test."],
            figures=[reevaluation_figure(points, title="Validation (search) vs test "
                                         "(mean ± std)")],
            tables=[table_html(shown, row_class=["" if on else "off"
                                                  for on in points["on_test_front"]])],
        ))
        sections.append(Section(
            "tradeoffs", "What privacy and fairness cost",
            figures=[tradeoff_figure(privacy_curve, fairness_curve, references=reference_lines,
                                     title="Best test accuracy under limits")],
            after=["Each staircase: the best test accuracy reachable within the limit. "
                   "Dashed: non-private model; dotted: constant predictor."],
        ))
    else:
        sections.append(Section(
            "front-table", "The Pareto set (validation)",
            intro=["Made without test re-evaluation (`--no-reevaluate`): validation values of "
                   "one training each."],
            tables=[table_html(front_val[["trial", *OBJECTIVES, *[
                c for c in ("accuracy_se", "unfairness_se", "cv_folds") if c in front_val],
                *params]])]))
    if importance_note is None:
        sections.append(Section(
            "importance", "What drives each objective",
            figures=[importance_figure(importances, title="Hyperparameter importance "
                                       "per objective")],
            after=["Optuna's fANOVA evaluator over the completed trials (validation values; "
                   "epsilon on a log scale). It describes this study's searched region."]))
    else:
        sections.append(Section("importance", "What drives each objective",
                                intro=[importance_note]))
    if exports:
        sections.append(Section(
            "deploy", "Deploy a configuration",
            intro=["`trifront export` trains a front configuration **once**, scores that very "
                   "model once on the test split and writes it with its model card (ε and its "
                   "bookkeeping, the test metrics of this model, the caveat flags); `trifront "
                   "predict DIR --data FILE.csv` applies it. Retraining draws fresh secret "
                   "noise: the exported model is a new draw of the configuration, with the "
                   "same ε."],
            tables=[table_html(pd.DataFrame({"trial": list(exports),
                                             "export command": list(exports.values())}))]))
    if audits is not None:
        from trifront.report.audit import audit_section

        sections.append(audit_section(audits))
    sections.append(Section("epsilon", "What ε does not cover", intro=caveats, box=True))
    sub = (f"{problem.model} on {problem.dataset}; {problem.fairness.replace('_', ' ')} gap; "
           f"ε at δ = {delta:g}." + (f" {png_note}" if png_note else ""))
    paths["index.html"] = out / "index.html"
    paths["index.html"].write_text(render_page(title, sections, subtitle=sub),
                                   encoding="utf-8")
    return paths
