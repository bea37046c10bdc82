"""``trifront compare``: several studies' fronts overlaid in one self-contained report.

Values are the search's validation values (no retraining). Hypervolumes are
recomputed against one *common* reference point (the worst coordinate of the
studies' own reference points), so they are comparable across studies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from trifront.analysis.frames import trials_frame
from trifront.analysis.pareto import front_mask, hypervolume, hypervolume_history
from trifront.analysis.tradeoffs import Limits, best_under
from trifront.errors import ConfigError
from trifront.objectives import OBJECTIVES
from trifront.report.figures import front_3d_overlay, hypervolume_figure, projections_figure
from trifront.report.html import Section, render_page, table_html
from trifront.study import study_objectives, study_settings

__all__ = ["common_reference_point", "write_comparison"]

_LIMITS = (Limits(1.0, 0.05), Limits(1.0, math.inf), Limits(math.inf, 0.05))


def common_reference_point(studies: Sequence[optuna.Study]) -> list[float]:
    """The elementwise worst of the studies' reference points (accuracy min, others max)."""
    refs = [study_settings(s).get("reference_point") for s in studies]
    refs = [r for r in refs if r]
    if not refs:
        return [0.0, 10.0, 0.5]
    arr = np.array(refs, dtype=float)
    return [float(arr[:, 0].min()), float(arr[:, 1].max()), float(arr[:, 2].max())]


def _label(study: optuna.Study) -> str:
    s = study_settings(study)
    p = s.get("problem", {})
    return f"{study.study_name} ({p.get('model')}, {p.get('dataset')}, {s.get('sampler')})"


def write_comparison(studies: Sequence[optuna.Study], out_dir: str | Path) -> dict[str, Path]:
    """Write ``index.html`` and ``compare.csv`` overlaying the fronts of ``studies``.

    Args:
        studies: Two or more trifront studies (one is accepted, but compares nothing).
        out_dir: Output directory (created if missing).

    Returns:
        Written paths keyed by file name.

    Raises:
        ConfigError: If no study is given or names repeat.
    """
    if not studies:
        raise ConfigError("compare needs at least one study.")
    names = [s.study_name for s in studies]
    if len(set(names)) != len(names):
        raise ConfigError(f"study names must be distinct, but got {names}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ref = common_reference_point(studies)
    searched = {study_objectives(s) for s in studies}
    if len(searched) > 1:
        raise ConfigError("the studies searched different objectives "
                          f"({sorted(','.join(o) for o in searched)}); their fronts and "
                          "hypervolumes are not comparable: compare studies of one kind.")
    objectives = searched.pop() if searched else OBJECTIVES
    frames, histories, rows = {}, {}, []
    metrics = set()
    for study in studies:
        label = _label(study)
        frame = trials_frame(study)
        complete = frame[frame["state"] == "COMPLETE"].reset_index(drop=True)
        frames[label] = complete
        histories[label] = hypervolume_history(frame[list(OBJECTIVES)].to_numpy(dtype=float),
                                               reference_point=ref, objectives=objectives)
        values = complete[list(OBJECTIVES)].to_numpy(dtype=float)
        settings = study_settings(study)
        mask = front_mask(values, majority_rate=settings.get("majority_rate"),
                          objectives=objectives)
        metrics.add(settings.get("problem", {}).get("fairness"))
        row = {"study": study.study_name, **{k: settings.get("problem", {}).get(k)
                                              for k in ("dataset", "model", "fairness")},
               "sampler": settings.get("sampler"), "trials": len(frame),
               "completed": len(complete), "on front": int(mask.sum()),
               "hypervolume": hypervolume(values, reference_point=ref, objectives=objectives)
               if len(values) else 0.0}
        for lim in _LIMITS:
            best = best_under(complete, lim, accuracy="accuracy", unfairness="unfairness")
            row[f"best acc, {lim.label()}"] = float(best["accuracy"]) if best is not None \
                else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    paths = {"compare.csv": out / "compare.csv", "index.html": out / "index.html"}
    table.to_csv(paths["compare.csv"], index=False)
    notes = [f"Validation values of the search (no retraining). Hypervolume against the common "
             f"reference point (accuracy, ε, gap) = ({ref[0]:.3g}, {ref[1]:.3g}, {ref[2]:.3g})."]
    if len(metrics) > 1:
        notes.append("**The studies use different fairness metrics**: their gap axes measure "
                     "different things.")
    sections = [
        Section("table", "Studies side by side", intro=notes, tables=[table_html(table)]),
        Section("front", "The fronts in 3-D", figures=[front_3d_overlay(
            frames, title="Pareto fronts (validation), one colour per study")]),
        Section("projections", "Two objectives at a time",
                figures=[projections_figure(frames, title="2-D fronts per study")]),
        Section("hypervolume", "Search progress", figures=[hypervolume_figure(
            histories, title="Hypervolume after each trial (common reference point)")]),
    ]
    title = f"trifront comparison: {', '.join(names)}"
    paths["index.html"].write_text(render_page(title, sections, subtitle=f"{len(studies)} "
                                               "studies"), encoding="utf-8")
    return paths
