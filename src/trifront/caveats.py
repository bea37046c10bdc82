"""What an epsilon does not cover: the caveat flags and the words every output uses.

Three settings weaken what a printed epsilon means. Each trial records a flag
for it (see :class:`~trifront.problem.TrialResult`), and every output that
shows an epsilon — the JSON of ``evaluate``, ``trials.csv``, the front ``run``
prints, ``recommend``, the report's summary and its "What ε does not cover"
section — repeats the sentence below when the flag is set (DESIGN.md privacy
rule 2 and rules 3, 7, 8).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["CAVEATS", "active_caveats", "caveat_flags", "private_tuning_caveats",
           "single_epsilon_caveats"]

#: Flag -> the sentence that says what epsilon then does not cover.
CAVEATS: dict[str, str] = {
    "noise_seeded": (
        "noise_seeded=true: the DP noise and the Poisson sampling were seeded from the "
        "public --seed (--reproducible research mode); epsilon holds only while that seed "
        "stays secret, and anyone who knows it can replay the training and decide "
        "membership exactly."
    ),
    "schema_from_data": (
        "schema_from_data=true: the encoding (column types, category lists, numeric "
        "bounds) and the row count behind q and T were taken from the file's private rows, "
        "not from a declared schema (--schema); epsilon does not cover them."
    ),
    "public_statistics": (
        "public_statistics=true: the fairness knobs' group statistics were declared public "
        "(--public-statistics); they are exact and NOT covered by epsilon."
    ),
}


def caveat_flags(records: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    """Which caveats hold for any of ``records`` (trial attributes or result dicts).

    A record made before a flag existed counts by what that version did: the
    noise was always seeded before ``noise_seeded`` was recorded.
    """
    flags = dict.fromkeys(CAVEATS, False)
    for r in records:
        for key in CAVEATS:
            value = r.get(key)
            if _missing(value):
                # A run of a version that seeded all its noise recorded no flag.
                flags[key] |= key == "noise_seeded" and not _missing(r.get("engine"))
            else:
                flags[key] |= value is True or str(value).strip().lower() in ("true", "1", "1.0")
    return flags


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def active_caveats(flags: Mapping[str, bool]) -> list[str]:
    """The sentences of the flags that are set, in a fixed order."""
    return [text for key, text in CAVEATS.items() if flags.get(key)]


def single_epsilon_caveats(
    *, delta: float, n_trials: int | None, subject: str = "Each epsilon in this report is",
    test_use: str = "used by this report", cv_folds: int = 1,
) -> list[str]:
    """What the epsilon of one training run does not cover, in plain words.

    The report's "What ε does not cover" box and the exported model card say
    the same things with these sentences.

    Args:
        delta: The delta epsilon is stated at.
        n_trials: How many models the search trained on the same rows (None:
            the run was not chosen by a search, and that sentence is left out).
        subject: What the first sentence speaks of, ending in a verb ("This
            model's epsilon is").
        test_use: What the test rows were used for.
        cv_folds: The search's cross-validation folds (> 1: every non-test row,
            training rows included, was also a validation row).

    Returns:
        The sentences, light Markdown (``**bold**``).
    """
    lines = [
        f"{subject} the guarantee of **one** training run, at delta = {delta:g}, for the "
        "training rows only.",
    ]
    if n_trials is not None:
        lines.append(
            f"The search trained {n_trials} models on the same rows, and chose among them by "
            "their results. Releasing the chosen model alone does not reset that: the choice "
            "depends on all runs, so the honest cost of the whole study is the composition of "
            "every run. A private-tuning study (`trifront run --private-tuning --study-epsilon "
            "E`) releases one model with one guarantee that covers the search too."
        )
    lines += [
        "Releasing more than one model (for example several points of the front) costs the "
        "composition of their runs: at worst the sum of their epsilons (and of their deltas).",
        "Validation rows (used to score and choose configurations) and test rows "
        f"({test_use}) are used without any privacy protection.",
    ]
    if cv_folds > 1:
        lines.append(
            f"The search scored each configuration by {cv_folds}-fold cross-validation: every "
            "non-test row, the training rows included, was a validation row of some fold, so "
            "the scores, the choice among configurations and the constant predictor's rate "
            "read the training rows without privacy too."
        )
    elif n_trials is not None:
        lines.append(
            "`trifront recommend` chooses among the configurations by retraining each on "
            "folds of the non-test rows, the training rows included, and scoring every run "
            "on the fold it did not train on, so its choice reads the training rows without "
            "privacy too."
        )
    return lines


def private_tuning_caveats() -> list[str]:
    """What the epsilon of a private-tuning study covers, and what would void it."""
    return [
        "This epsilon covers the whole private-tuning study: every run, the choice among "
        "them, the noisy validation scores and the released noisy test metrics, for every "
        "row of the file (training, validation and test rows).",
        "It covers the released model, its hyperparameters and its noisy test metrics "
        "only. Publishing anything else from the study's storage (another run, any score, "
        "how many runs were drawn, which run was chosen) voids the guarantee.",
        "The candidates were drawn independently from a fixed prior; an adaptive search "
        "(BoTorch, TPE) is not covered by this theorem.",
        "The public schema and row count (the data set's card) are taken as public, and "
        "the floating-point Gaussian sampler's known small leaks are not modelled.",
    ]
