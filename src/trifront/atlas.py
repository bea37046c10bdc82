"""The atlas: one study per (data set, model, fairness metric), compared on one page.

``run_atlas`` runs (or resumes) every study of the grid in ONE shared storage,
under deterministic names ``atlas-{dataset}-{model}-{metric}``, writes each
study's full report (``trifront.report.build.write_report``) to
``DIR/<study>/``, then reads the reports' cached re-evaluations back to write

* ``DIR/atlas.json``: per study, the re-evaluated front, the price of privacy
  (at epsilon <= 0.5, 1, 3) and of fairness (at gap <= 0.02, 0.05, 0.1), which
  fairness knobs carry its fair end, and a privacy-cost class;
* ``DIR/index.html``: one self-contained page with the fronts as small
  multiples on shared axes, the prices side by side, and the caveats.

Every price is a choice made on **validation** (``trifront.analysis.recommend``:
the best mean validation re-evaluation meeting the limit, the constant
predictor when nothing beats it) and scored on **test**: the test split never
picks a winner. Resuming is the runner's: ``trials`` is each study's total, a
finished study is not run again, a half one continues, and the re-evaluations
are cached in the studies, so a second atlas trains nothing new.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from tqdm.auto import tqdm

from trifront.analysis.atlas import study_entry
from trifront.datasets import list_datasets
from trifront.deploy.command import redact_url
from trifront.errors import ConfigError, unknown_name
from trifront.fairness.metrics import FAIRNESS_METRICS
from trifront.models import MODELS
from trifront.problem import REMOVED_MODELS
from trifront.report.atlas import atlas_page
from trifront.report.build import json_safe, write_report
from trifront.runner import RunConfig, open_study, run_study
from trifront.settings import Settings
from trifront.storage import study_names
from trifront.study import counted_trials, study_problem

__all__ = [
    "ATLAS_DATASETS",
    "ATLAS_METRICS",
    "ATLAS_MODELS",
    "Atlas",
    "AtlasConfig",
    "atlas_study_name",
    "run_atlas",
]

ATLAS_DATASETS: tuple[str, ...] = ("adult", "compas", "german")
ATLAS_MODELS: tuple[str, ...] = ("logreg", "mlp")
ATLAS_METRICS: tuple[str, ...] = ("demographic_parity", "equalized_odds")
#: Settings the atlas sets itself for every study; ``AtlasConfig.settings`` may not.
_OWN_SETTINGS = frozenset({
    "dataset", "data", "label", "positive", "schema", "model", "fairness", "trials",
    "n_trials", "storage", "study", "study_name", "out", "jobs", "dask", "seed",
    "private_tuning",
})


def atlas_study_name(dataset: str, model: str, metric: str) -> str:
    """The deterministic study name of one cell of the atlas."""
    return f"atlas-{dataset}-{model}-{metric}"


@dataclass(frozen=True)
class AtlasConfig:
    """What an atlas runs, validated at construction (nothing is trained or opened).

    Attributes:
        out: Output directory (created if missing): ``atlas.json``, ``index.html``
            and one report directory per study.
        datasets: Bundled data sets (a sequence, or one comma-separated string).
        models: Models (the same).
        metrics: Fairness metrics (the same); one study per (dataset, model, metric).
        trials: Each study's total number of trials.
        seeds: Re-evaluation runs per front configuration (test and validation).
        storage: Optuna storage URL (None: ``sqlite:///<out>/atlas.db``).
        jobs: Trials in flight in a local pool (None: one per core).
        dask: A Dask scheduler address or ``local:N``.
        seed: The public seed of every study.
        settings: Further settings of every study, by ``trifront run`` name
            (e.g. ``{"space": {"epochs": {"high": 3}}, "cv_folds": 1}``); study
            settings, so a resumed atlas must give the same ones.
    """

    out: str | Path
    datasets: Sequence[str] = ATLAS_DATASETS
    models: Sequence[str] = ATLAS_MODELS
    metrics: Sequence[str] = ATLAS_METRICS
    trials: int = 40
    seeds: int = 5
    storage: str | None = None
    jobs: int | None = None
    dask: str | None = None
    seed: int = 0
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("datasets", "models", "metrics"):  # "a,b" is accepted for a list
            value = getattr(self, key)
            names = value.split(",") if isinstance(value, str) else value
            object.__setattr__(self, key, tuple(str(n).strip() for n in names if str(n).strip()))
        for kind, names, accepted in (("dataset", self.datasets, list_datasets()),
                                      ("model", self.models, MODELS),
                                      ("fairness metric", self.metrics, FAIRNESS_METRICS)):
            if not names:
                raise ConfigError(f"give at least one {kind}; accepted: {', '.join(accepted)}.")
            for name in names:
                if kind == "model" and name in REMOVED_MODELS:
                    raise ConfigError(REMOVED_MODELS[name])
                if name not in accepted:
                    raise unknown_name(kind, name, accepted)
        for name, value in (("trials", self.trials), ("seeds", self.seeds)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"`{name} >= 1` must hold, but got {name}={value!r}.")
        own = sorted(_OWN_SETTINGS & set(self.settings))
        if own:
            raise ConfigError(f"settings {', '.join(own)} are set by the atlas itself "
                              "(datasets, models, metrics, trials, storage, jobs, dask, seed).")
        out = Path(self.out)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"out {str(out)!r} is an existing file; give a directory "
                              "(created if missing).")

    @property
    def storage_url(self) -> str:
        """The shared storage: ``storage``, or ``sqlite:///<out>/atlas.db``."""
        return self.storage or f"sqlite:///{Path(self.out).resolve() / 'atlas.db'}"

    def cells(self) -> list[tuple[str, str, str]]:
        """(dataset, model, metric) of every study, in order, without repeats."""
        seen = dict.fromkeys((d, m, f) for d in self.datasets for m in self.models
                             for f in self.metrics)
        return list(seen)

    def run_settings(self, dataset: str, model: str, metric: str) -> Settings:
        """The settings of one study (the same as ``trifront run`` with these flags)."""
        return Settings.from_mapping({
            **self.settings, "dataset": dataset, "model": model, "fairness": metric,
            "trials": self.trials, "storage": self.storage_url,
            "study": atlas_study_name(dataset, model, metric),
            "out": str(Path(self.out) / atlas_study_name(dataset, model, metric)),
            "jobs": self.jobs, "dask": self.dask, "seed": self.seed,
        }, where="atlas")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the storage URL without its password)."""
        return {"datasets": list(self.datasets), "models": list(self.models),
                "metrics": list(self.metrics), "trials": self.trials, "seeds": self.seeds,
                "storage": redact_url(self.storage_url), "jobs": self.jobs, "dask": self.dask,
                "seed": self.seed, "study_settings": dict(self.settings)}


@dataclass(frozen=True)
class Atlas:
    """The result of :func:`run_atlas`.

    Attributes:
        data: The content of ``atlas.json`` (non-finite numbers are None).
        paths: Written files: ``atlas.json``, ``index.html``.
    """

    data: dict[str, Any]
    paths: dict[str, Path]


def run_atlas(config: AtlasConfig, *, progress: bool = True) -> Atlas:
    """Run or resume every study of the atlas, report each, and write the atlas.

    Every study is planned first (data loaded, settings validated) and every
    existing study is checked against its settings, so bad input fails before
    any training and leaves the storage as it was.

    Args:
        config: The atlas.
        progress: Show one progress bar on stderr: each study's trials plus one
            step for its report.

    Returns:
        The atlas data and the written paths.

    Raises:
        ConfigError: On bad settings or a stored study made with other settings.
        StorageError: If the storage cannot be used.
        KeyboardInterrupt: Finished trials are kept; the same call resumes.
    """
    start = time.monotonic()
    runs = [RunConfig.from_settings(config.run_settings(*cell)) for cell in config.cells()]
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    existing = set(study_names(config.storage_url))
    for run in runs:
        if run.study_name in existing:
            open_study(run, create=False)  # refuses other settings, changes nothing
    entries = []
    with tqdm(total=len(runs) * (config.trials + 1), desc="atlas", unit="step",
              file=sys.stderr, disable=not progress, dynamic_ncols=True) as bar:
        for cell, run in zip(config.cells(), runs, strict=True):
            bar.set_description(f"atlas {run.study_name}")
            study = _run_study(run, bar)
            # The report step: test re-evaluation and references (cached), then the
            # validation re-evaluation the choices are made on (cached too).
            bar.set_description(f"atlas {run.study_name} (report)")
            write_report(study, out / run.study_name, n_seeds=config.seeds, png=False,
                         progress=False, storage_url=config.storage_url)
            entries.append({"dataset": cell[0], "model": cell[1], "fairness_metric": cell[2],
                            **study_entry(study, n_seeds=config.seeds,
                                          report=f"{run.study_name}/index.html")})
            bar.update(1)
    caveats = _caveats(config)  # what the epsilons do not cover: in both files
    data = json_safe({"studies": entries, "settings": config.to_dict(), "caveats": caveats,
                       "seconds": round(time.monotonic() - start, 3)})
    paths = {"atlas.json": out / "atlas.json", "index.html": out / "index.html"}
    paths["atlas.json"].write_text(json.dumps(data, indent=2, allow_nan=False),
                                   encoding="utf-8")
    paths["index.html"].write_text(atlas_page(data, caveats=caveats), encoding="utf-8")
    return Atlas(data, paths)


def _run_study(run: RunConfig, bar: tqdm) -> optuna.Study:
    """Run one study up to its total, counting its trials on ``bar``.

    A study already at its total is only opened: no worker pool is started.
    """
    study = open_study(run)
    done = min(counted_trials(study), run.n_trials)
    bar.update(done)
    if done < run.n_trials:
        study = run_study(run, progress=False, on_trial=lambda _: bar.update(1))
    return study


def _caveats(config: AtlasConfig) -> list[str]:
    """What the epsilons on the page do not cover (``trifront.caveats``' sentences)."""
    from trifront.analysis.reevaluate import cached_run_records
    from trifront.caveats import active_caveats, caveat_flags, single_epsilon_caveats
    from trifront.study import load_study

    records: list[Mapping[str, Any]] = []
    folds: dict[int, list[str]] = {}
    deltas = set()
    for cell in config.cells():
        study = load_study(config.storage_url, atlas_study_name(*cell))
        records += [t.user_attrs for t in study.get_trials(deepcopy=False)]
        records += cached_run_records(study)
        problem = study_problem(study)
        folds.setdefault(problem.cv_folds, []).append(study.study_name)
        deltas.add(problem.delta)
    subject = "Each epsilon on this page is"
    lines = [f"**Warning:** {t}" for t in active_caveats(caveat_flags(records))]
    base = single_epsilon_caveats(delta=max(deltas), n_trials=config.trials, subject=subject,
                                  test_use="to score the configurations chosen on validation")
    lines += base
    for k, names in sorted(folds.items()):
        extra = [x for x in single_epsilon_caveats(delta=max(deltas), n_trials=config.trials,
                                                   subject=subject, cv_folds=k) if x not in base
                 and not x.startswith("Validation rows")]
        lines += [f"{', '.join(names)}: {x}" for x in extra]
    lines.append(f"The atlas runs {len(config.cells())} studies; the studies of one data set "
                 "train on the same rows, so their searches' costs compose as well.")
    return lines


