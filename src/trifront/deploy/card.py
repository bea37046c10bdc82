"""The model card: what an exported model is, what its epsilon covers, how it was measured.

``card.json`` is built from the run's :class:`~trifront.problem.TrialResult`
(the record every other output uses, so the card states privacy and caveat
flags exactly as ``evaluate`` and the report do) and ``card.md`` is rendered
from ``card.json`` alone, so the two never disagree.

What the card says about the data is public by construction: a bundled data
set's card, or a user file's *name* and declared schema. The sha256 of a
user's file is left out unless asked for (``include_data_sha256``): it is a
deterministic function of the private rows, so anyone holding a candidate copy
of the file could confirm it was the training data, and epsilon does not cover
that.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trifront import __version__
from trifront.caveats import (
    CAVEATS,
    active_caveats,
    caveat_flags,
    private_tuning_caveats,
    single_epsilon_caveats,
)
from trifront.datasets import Dataset
from trifront.deploy.encoder import Encoder
from trifront.deploy.layout import FORMAT, FORMAT_VERSION, sha256_of
from trifront.deploy.rule import DecisionRule
from trifront.problem import USER_FILE, Problem, TrialResult

__all__ = ["DATA_SHA256_NOTE", "FLOAT_NOISE_NOTE", "build_card", "card_markdown",
           "dataset_entry"]

#: Why a user file's sha256 is not on the card by default.
DATA_SHA256_NOTE = (
    "The sha256 of the training file is a deterministic function of the private rows: "
    "anyone holding a candidate copy of the file can confirm that it was the training "
    "data, and epsilon does not cover that."
)
#: What the floating-point Gaussian sampler leaves out of epsilon (as README says).
FLOAT_NOISE_NOTE = (
    "The Gaussian noise was sampled in floating point with torch's generators, which are "
    "not cryptographically secure (as Opacus outside its secure_mode); floating-point "
    "sampling has known, small leaks that this epsilon does not model."
)
_PRIVACY_KEYS = ("epsilon", "delta", "accountant", "epsilon_sgd", "epsilon_stats",
                 "epsilon_rdp", "noise_multiplier", "sample_rate", "steps", "max_grad_norm",
                 "target_epsilon", "engine")


def dataset_entry(problem: Problem, ds: Dataset, *, include_data_sha256: bool) -> dict[str, Any]:
    """The card's ``dataset``: what the model was trained on, public facts only.

    ``schema`` is the exported encoder's schema (``encoder.json``, which the
    loader reads; repeated here for the reader of the card).
    """
    card = ds.card
    entry: dict[str, Any] = {
        "name": card.name,
        "sensitive_attribute": ds.sensitive,
        "groups": list(ds.group_names),
        "n_train_public": ds.n_train_public,
        "data_seed": problem.data_seed,
        "schema": Encoder.of(ds).to_dict(),
    }
    if problem.dataset != USER_FILE:
        entry.update(bundled=True, title=card.title, source=card.source, licence=card.licence,
                     citation=card.citation, public_rows=card.n_rows,
                     schema_origin="the data set's published card (public)")
        return entry
    data_file = Path(str(problem.data_file))
    entry.update(bundled=False, file=data_file.name)
    if problem.schema_file is not None:
        schema_file = Path(problem.schema_file)
        entry.update(schema_file=schema_file.name, schema_sha256=sha256_of(schema_file),
                     declared_rows=card.n_rows,
                     schema_origin="the schema the user declared public (--schema)")
    else:
        entry.update(schema_file=None, declared_rows=None,
                     schema_origin="INFERRED FROM THE FILE'S ROWS (no --schema): the bounds, "
                     "category lists and row count in encoder.json are statistics of the "
                     "private data, published with the model and not covered by epsilon")
    if include_data_sha256:
        entry.update(file_sha256=sha256_of(data_file),
                     file_sha256_note="Keep this card internal: " + DATA_SHA256_NOTE)
    else:
        entry.update(file_sha256=None, file_sha256_note="Left out on purpose. " +
                     DATA_SHA256_NOTE + " (`trifront export --data-sha256` adds it for an "
                     "internal record.)")
    return entry


def build_card(
    *,
    record: TrialResult,
    problem: Problem,
    params: Mapping[str, Any],
    encoder: Encoder,
    rule: DecisionRule,
    model: Mapping[str, Any],
    dataset: Mapping[str, Any],
    n_test: int,
    test_how: str,
    command: str,
    provenance: Mapping[str, Any],
    files: Mapping[str, str],
) -> dict[str, Any]:
    """``card.json`` of one exported run.

    Args:
        record: The run's record, scored on the test split.
        problem: The problem it was trained on.
        params: Its configuration (the searched values).
        encoder: The exported encoder.
        rule: The exported decision rule.
        model: The architecture (``module_spec``).
        dataset: ``dataset_entry``.
        n_test: Rows the test metrics were measured on.
        test_how: How they were measured (one sentence).
        command: The command that made the model.
        provenance: ``study``, ``trial``, ``n_trials`` (None when not from a study).
        files: ``{file name: sha256}`` of the weights, encoder and rule.
    """
    r = record.to_dict()
    flags = caveat_flags([r])
    n_trials = provenance.get("n_trials")
    if provenance.get("private_tuning"):
        not_covered = [*active_caveats(flags), *private_tuning_caveats()]
    else:
        not_covered = [*active_caveats(flags), *single_epsilon_caveats(
            delta=problem.delta, n_trials=n_trials, subject="This model's epsilon is",
            test_use="used once to measure this card's test_accuracy and test_unfairness",
            cv_folds=problem.cv_folds if n_trials is not None else 1)]
    if math.isinf(record.epsilon):
        not_covered.insert(0, "This model was trained WITHOUT differential privacy "
                              "(epsilon = inf): it has no privacy guarantee at all.")
    else:
        not_covered.append(FLOAT_NOISE_NOTE)
    sensitive_inputs = [c for c in encoder.sensitive_columns if c in encoder.feature_columns]
    notes = []
    if sensitive_inputs:
        notes.append(
            f"The model reads the sensitive attribute ({', '.join(sensitive_inputs)}) as an "
            "input feature, as the data set's schema encodes it: predicting needs that column "
            "whatever uses_sensitive_at_prediction says (which is about the decision rule).")
    if rule.uses_sensitive:
        notes.append("The decision rule uses per-group thresholds: the sensitive attribute "
                     f"{encoder.sensitive!r} is needed for every row at prediction time.")
    card: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "trifront_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "source": dict(provenance),
        "dataset": dict(dataset),
        "model": dict(model),
        "hyperparameters": dict(params),
        "knobs": {"fair_weight": record.knob_fair_weight, "reweigh": record.knob_reweigh,
                  "group_thresholds": record.knob_threshold_gap,
                  "fair_target": record.knob_fair_target},
        "public_seed": record.seed,
        **{k: r[k] for k in _PRIVACY_KEYS},
        "n_train_public": record.n_train,
        "private": not math.isinf(record.epsilon),
        "statistics_noise": {"counts": record.stats_noise_counts,
                             "sums": record.stats_noise_sums,
                             "histograms": record.stats_noise_histograms,
                             "stats_share": record.stats_share},
        "test_accuracy": record.accuracy,
        "test_unfairness": record.unfairness,
        "fairness_metric": record.fairness_metric,
        "sensitive_attribute": encoder.sensitive,
        "test_rows": int(n_test),
        "test_measured": test_how,
        "decision_rule": rule.to_dict(),
        "uses_sensitive_at_prediction": rule.uses_sensitive,
        "sensitive_is_model_input": bool(sensitive_inputs),
        "required_columns": list(dict.fromkeys([
            *encoder.feature_columns,
            *(encoder.sensitive_columns if rule.uses_sensitive else ())])),
        **{k: flags[k] for k in CAVEATS},
        "caveats": active_caveats(flags),
        "epsilon_does_not_cover": not_covered,
        "notes": notes,
        "files": dict(files),
    }
    return card


# --------------------------------------------------------------------- Markdown
def _num(value: object, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "–"}[value]
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _rows(pairs: Sequence[tuple[str, object]]) -> list[str]:
    return ["| | |", "|---|---|", *(f"| {k} | {_num(v)} |" for k, v in pairs)]


def card_markdown(card: Mapping[str, Any], encoder: Encoder) -> str:
    """``card.md``: the card for people, rendered from ``card.json`` and the encoder."""
    ds, model, src = card["dataset"], card["model"], card["source"]
    arch = (f"{model['name']}: {model['n_features']} inputs"
            + (f", hidden layers {model['hidden']}" if model["hidden"] else "")
            + f", {model['n_parameters']} parameters ({model['dtype']})")
    if src.get("private_tuning"):
        origin = (f"the model released by private-tuning study `{src['study']}` (its epsilon "
                  "covers the whole study)")
    elif src.get("study"):
        origin = f"trial {src['trial']} of study `{src['study']}` ({src['n_trials']} trials)"
    else:
        origin = "a configuration given directly"
    eps = card["epsilon"]
    per_run = "one run's " if src.get("private_tuning") else ""
    no_privacy = eps == "inf" or (isinstance(eps, float) and math.isinf(eps))
    eps_text = "none: trained without privacy" if no_privacy else f"{_num(eps)}"
    metric = str(card["fairness_metric"]).replace("_", " ")
    lines = [
        f"# Model card: {model['name']} on {ds['name']}",
        "",
        f"Exported from {origin} by trifront {card['trifront_version']} on {card['created']}.",
        "",
        f"Made with: `{card['command']}`",
        "",
        "## Privacy",
        "",
        *_rows([("epsilon", eps_text), ("delta", card["delta"]),
                ("accountant", card["accountant"]),
                (f"epsilon of {per_run}DP-SGD", card["epsilon_sgd"]),
                (f"epsilon of {per_run}knobs' statistics", card["epsilon_stats"]),
                ("epsilon (RDP cross-check)", card["epsilon_rdp"]),
                ("noise multiplier σ", card["noise_multiplier"]),
                ("sampling rate q", card["sample_rate"]), ("steps T", card["steps"]),
                ("clipping norm C", card["max_grad_norm"]), ("engine", card["engine"]),
                ("public training rows", card["n_train_public"])]),
        "",
        "## Accuracy and fairness of this model",
        "",
        *_rows([("test accuracy", card["test_accuracy"]),
                (f"test {metric} gap", card["test_unfairness"]),
                ("sensitive attribute", card["sensitive_attribute"]),
                ("test rows", card["test_rows"])]),
        "",
        card["test_measured"],
        "",
        "## Decision rule",
        "",
        f"- {card['decision_rule']['rule']}.",
    ]
    rule = card["decision_rule"]
    if rule["kind"] == "group_thresholds":
        lines += [f"  - `{g}`: probability ≥ {_num(p)}"
                  for g, p in zip(rule["groups"], rule["probability_thresholds"], strict=True)]
    lines += [
        f"- uses_sensitive_at_prediction: **{_num(card['uses_sensitive_at_prediction'])}**",
        f"- sensitive attribute is a model input: {_num(card['sensitive_is_model_input'])}",
        f"- columns needed to predict: {', '.join(f'`{c}`' for c in card['required_columns'])}",
        *(f"- {n}" for n in card["notes"]),
        "",
        "## Caveat flags",
        "",
        *(f"- {k}: **{_num(card[k])}**" for k in CAVEATS),
        "",
        "## What ε does not cover",
        "",
        *(f"- {line}" for line in card["epsilon_does_not_cover"]),
        "",
        "## Model and hyperparameters",
        "",
        f"- {arch}",
        *(f"- {k}: {_num(v, 6)}" for k, v in card["hyperparameters"].items()),
        f"- public seed (initialisation): {card['public_seed']}",
        "",
        "## Data",
        "",
        *(f"- {k}: {_num(v)}" for k, v in ds.items() if k not in ("groups", "schema")),
        f"- groups of `{ds['sensitive_attribute']}`: {', '.join(ds['groups'])}",
        "",
        "### Public schema (encoder.json)",
        "",
        *_schema_table(encoder),
        "",
        "## Files",
        "",
        *(f"- `{name}`: sha256 {digest}" for name, digest in card["files"].items()),
    ]
    return "\n".join(lines) + "\n"


def _schema_table(encoder: Encoder) -> list[str]:
    from trifront.datasets import NumericFeature

    rows = ["| column | kind | schema |", "|---|---|---|"]
    for f in encoder.card.features:
        if isinstance(f, NumericFeature):
            t = "" if f.transform == "identity" else f", {f.transform}"
            rows.append(f"| `{f.name}` | numeric | clip to [{f.lo:g}, {f.hi:g}]{t}, scale "
                        "to [0, 1] |")
        else:
            shown = ", ".join(f.categories[:12]) + (", …" if len(f.categories) > 12 else "")
            rows.append(f"| `{f.name}` | categorical | one-hot over {len(f.categories)}: "
                        f"{shown} |")
    negative = next(v for v in encoder.card.label_values if v != encoder.card.positive_label)
    rows.append(f"| `{encoder.card.label}` | label | `{encoder.card.positive_label}` → 1, "
                f"`{negative}` → 0 (optional when predicting) |")
    return rows
