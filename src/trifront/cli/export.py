"""``trifront export``: train a study's configuration once and write the deployable model.

Also the shared ``--export`` of ``recommend`` (:func:`export_and_print`).
"""

from __future__ import annotations

import argparse
import math
import sys
from os import PathLike
from typing import TYPE_CHECKING, Any

from trifront.cli.common import NON_NEGATIVE_INT, add_storage_flag
from trifront.settings import DEFAULT_STORAGE

if TYPE_CHECKING:
    import optuna

    from trifront.deploy import ExportedModel


def add_export_flags(p: Any) -> None:
    """``--overwrite`` and ``--data-sha256``, shared with ``recommend --export``."""
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing model directory (never another directory)")
    p.add_argument("--data-sha256", action="store_true",
                   help="put the sha256 of a user data file on the card (it identifies the "
                   "private file; for internal records only; off by default)")


def add_parser(sub: Any) -> None:
    ex = sub.add_parser(
        "export", help="train a study's configuration once and write a deployable model",
        description="Train trial N's configuration once (fresh secret noise), score that "
        "model once on the untouched test split, and write DIR: model.pt (weights, loaded "
        "with weights_only), encoder.json (the public schema), decision.json (the threshold "
        "or per-group thresholds), card.json and card.md (the model card: epsilon and its "
        "bookkeeping, test metrics of this exact model, caveat flags, what epsilon does not "
        "cover). Use it with `trifront predict DIR` or trifront.load_model(DIR).",
    )
    ex.add_argument("study", nargs="?", help="study name (optional if the storage has one)")
    ex.add_argument("--trial", type=NON_NEGATIVE_INT, required=True,
                    help="number of a completed trial (see front.csv or `trifront recommend`)")
    ex.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    ex.add_argument("--seed", type=NON_NEGATIVE_INT,
                    help="public seed of the initialisation (default: the trial's own)")
    add_storage_flag(ex)
    add_export_flags(ex)


def export_and_print(
    study: optuna.Study, trial: int, out: str | PathLike[str], *, storage_url: str,
    seed: int | None = None, overwrite: bool = False, data_sha256: bool = False,
    stream: Any = None,
) -> ExportedModel:
    """Export a trial and print what was written (shared with ``recommend --export``)."""
    from trifront.deploy.export import check_target, completed_trial, export_trial

    stream = stream or sys.stdout
    completed_trial(study, trial)
    check_target(out, overwrite=overwrite)
    print(f"training trial {trial} of study {study.study_name!r} once (fresh secret noise) "
          "and scoring it once on the test split ...", file=sys.stderr)
    model = export_trial(study, trial, out, seed=seed, storage_url=storage_url,
                         include_data_sha256=data_sha256, overwrite=overwrite)
    card = model.card
    eps = card["epsilon"]
    eps_text = "inf (no privacy)" if eps == "inf" or (
        isinstance(eps, float) and math.isinf(eps)) else f"{eps:.4g}"
    metric = str(card["fairness_metric"]).replace("_", " ")
    print(f"exported trial {trial} to {out}", file=stream)
    print(f"  epsilon {eps_text} at delta {card['delta']:g} ({card['accountant']}); "
          f"test accuracy {card['test_accuracy']:.4f}, test {metric} gap "
          f"{card['test_unfairness']:.4f} ({card['test_rows']} rows, this model, once)",
          file=stream)
    print(f"  uses_sensitive_at_prediction: {str(card['uses_sensitive_at_prediction']).lower()}",
          file=stream)
    for text in card["caveats"]:
        print(f"  WARNING: {text}", file=stream)
    print(f"  predict with: trifront predict {out} --data FILE.csv --out predictions.csv",
          file=stream)
    return model


def main(args: argparse.Namespace) -> int:
    from trifront.study import load_study, refuse_private_tuning

    storage = args.storage or DEFAULT_STORAGE
    study = load_study(storage, args.study)
    refuse_private_tuning(study, "export")
    export_and_print(study, args.trial, args.out, storage_url=storage, seed=args.seed,
                     overwrite=args.overwrite, data_sha256=args.data_sha256)
    return 0
