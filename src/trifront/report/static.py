"""Static PNG figures for papers and slides, drawn with matplotlib (optional).

matplotlib renders offline with no browser. When it is not installed the PNGs
are skipped and the report says how to get them
(``pip install 'trifront[png]'``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from trifront.report.figures import PROJECTIONS, front_2d

__all__ = ["PNG_HINT", "png_available", "write_pngs"]

PNG_HINT = "PNG figures need matplotlib: pip install 'trifront[png]' (or matplotlib>=3.8)."


def png_available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_pngs(
    out: Path,
    *,
    complete: pd.DataFrame,
    hv: np.ndarray,
    points: pd.DataFrame | None,
    privacy: pd.DataFrame | None,
    fairness: pd.DataFrame | None,
    references: Mapping[str, float],
) -> dict[str, Path]:
    """Write ``projections.png``, ``hypervolume.png`` and, with test results,
    ``reevaluation.png`` and ``tradeoffs.png``.

    Returns:
        Written paths keyed by file name (empty if matplotlib is missing).
    """
    if not png_available():
        return {}
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    paths: dict[str, Path] = {}

    def save(fig: object, name: str) -> None:
        path = out / name
        fig.savefig(path, dpi=130, bbox_inches="tight")  # type: ignore[attr-defined]
        plt.close(fig)  # type: ignore[arg-type]
        paths[name] = path

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (x, y, dx, dy, logx) in zip(axes, PROJECTIONS, strict=True):
        ax.scatter(complete[x], complete[y], s=14, c="#9aa5b1", alpha=0.6, label="trials")
        f2 = front_2d(complete, x, y, dx, dy)
        ax.step(f2[x], f2[y], where="post", color="#d62728", marker="o", ms=4, label="2-D front")
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
    axes[0].legend(fontsize=8)
    fig.suptitle("Two objectives at a time (validation)")
    save(fig, "projections.png")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.step(np.arange(1, len(hv) + 1), hv, where="post", color="#1f77b4")
    ax.set_xlabel("trials finished")
    ax.set_ylabel("hypervolume")
    ax.set_ylim(bottom=0)
    save(fig, "hypervolume.png")

    if points is not None and len(points):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for ax, (val, test) in zip(axes, (("val_accuracy", "test_accuracy"),
                                          ("val_unfairness", "test_unfairness")), strict=True):
            ax.scatter(points["epsilon"], points[val], facecolors="none", edgecolors="#9aa5b1",
                       label="validation")
            ax.errorbar(points["epsilon"], points[test],
                        yerr=points[f"{test}_std"].fillna(0.0), fmt="o", color="#1f77b4",
                        label="test mean ± std")
            ax.set_xscale("log")
            ax.set_xlabel("epsilon")
            ax.set_ylabel(test.replace("test_", ""))
        axes[0].legend(fontsize=8)
        save(fig, "reevaluation.png")

    if privacy is not None and fairness is not None and len(privacy):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for ax, (table, x, what) in zip(axes, ((privacy, "epsilon", "gap"),
                                              (fairness, "unfairness", "ε")), strict=True):
            for level, part in table.groupby("level", sort=True):
                name = f"{what} ≤ {level:g}" if math.isfinite(level) else f"any {what}"
                ax.step(part[x], part["accuracy"], where="post", marker="o", ms=3, label=name)
            for label, acc in references.items():
                if acc is not None and math.isfinite(acc):
                    ax.axhline(acc, ls="--", color="#444", lw=0.8)
                    ax.annotate(f"{label} {acc:.3f}", (0.99, acc), xycoords=("axes fraction",
                                "data"), ha="right", va="bottom", fontsize=7)
            ax.set_xlabel(x)
            ax.set_ylabel("best test accuracy")
            ax.legend(fontsize=7)
        axes[0].set_xscale("log")
        axes[0].set_title("price of privacy")
        axes[1].set_title("price of fairness")
        save(fig, "tradeoffs.png")
    return paths
