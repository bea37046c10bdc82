"""The ask/tell loop: the sampler proposes, the problem trains, the study stores.

Only this driver talks to the storage. A study's settings (data set, model,
metric, delta, search space, reference point) are written once into the study's
user attributes; resuming with different settings is refused rather than mixing
incomparable trials. ``n_trials`` is the study's *total*: running the same
command again continues where it stopped.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import optuna
import torch
from optuna.trial import TrialState
from tqdm.auto import tqdm

from trifront import __version__
from trifront.crossval import scored_majority_rate
from trifront.errors import ConfigError
from trifront.execution import (
    ExecutionConfig,
    ExecutionError,
    Executor,
    Outcome,
    Task,
    make_executor,
)
from trifront.objectives import OBJECTIVES, parse_objectives, reference_point
from trifront.problem import Problem, TrialResult
from trifront.search import TrifrontSampler, make_sampler
from trifront.search.known import known_target_epsilon
from trifront.settings import DEFAULT_STORAGE, Settings
from trifront.space import SearchSpace
from trifront.study import (
    SEARCHED_KEY,
    counted_trials,
    fail_trial,
    requeue_interrupted,
    store_result,
    trial_seed,
)
from trifront.study import (
    open_study as _open_study,
)

# Used as the epsilon coordinate of the reference point when epsilon is not
# searched directly (noise parametrisation).
DEFAULT_EPSILON_MAX = 10.0
REGION_EPSILON_SLACK = 2.0
"""A region's reference epsilon, in multiples of its limit: a configuration *at* the
limit (where refine holds the target epsilon) must add hypervolume, which it does
not when the reference sits exactly at the limit."""


@dataclass(frozen=True)
class RunConfig:
    """Everything ``run_study`` needs, validated at construction.

    Attributes:
        problem: What each trial trains and measures.
        space: The searched dimensions.
        n_trials: The study's total number of trials (finished ones count).
        storage: Optuna storage URL.
        study_name: Name of the study in the storage.
        seed: Seed of the sampler and of the per-trial training seeds.
        sampler: Name from ``trifront.search.SAMPLERS``.
        n_startup_trials: Quasi-random trials before the model-based proposals.
        execution: Where and how many trials run at once (not a study setting:
            a study may be resumed with other execution settings).
        evaluate: What trains a trial, ``evaluate(problem, params, *, seed)``
            (None: :func:`trifront.trial.evaluate`); tests inject faults here.
            Not a study setting.
        focus_unfairness: Unfairness coordinate of the reference point (default
            ``REFERENCE_UNFAIRNESS`` = 0.5). A smaller value, e.g. 0.03, makes
            the hypervolume the sampler maximises count only configurations
            fairer than it, so the search concentrates on that region; the front
            still shows every trial. A study setting.
        anchors: Train the space's default configurations first in a new
            study (:meth:`~trifront.space.SearchSpace.anchors`); they count
            toward ``n_trials``.
        objectives: The objectives searched (``objectives.OBJECTIVE_SETS``):
            all three, or a 2-D front. A study setting.
        region: ``(max_epsilon, max_unfairness)`` that this run's new trials
            aim at (``trifront refine``): with the epsilon parametrisation
            every new trial spends the limit (``target_epsilon`` held at
            ``max_epsilon``: under a privacy limit, a smaller budget only adds
            noise), and the sampler's reference point becomes
            (``region_accuracy`` or the majority rate,
            ``REGION_EPSILON_SLACK * max_epsilon``, max_unfairness), so the
            new trials compete on accuracy and gap inside the gap limit while
            the earlier trials, whatever their epsilon, stay in the models as
            data. Each new trial records the region (user attribute
            ``region``). Not a study setting: the study's front, report and
            recommendations use every trial.
        region_accuracy: The accuracy coordinate of the region's reference
            point (None: the majority rate). Above the constant predictor, a
            near-constant model inside the gap limit adds no hypervolume, so
            the new trials compete on accuracy among useful models
            (:func:`trifront.refine.region_accuracy`).
    """

    problem: Problem = field(default_factory=Problem)
    space: SearchSpace = field(default_factory=SearchSpace.default)
    n_trials: int = 40
    storage: str = DEFAULT_STORAGE
    study_name: str = "trifront"
    seed: int = 0
    sampler: str = "trifront"
    n_startup_trials: int = 8
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    focus_unfairness: float | None = None
    evaluate: Callable[..., TrialResult] | None = None
    anchors: bool = True
    objectives: tuple[str, ...] = OBJECTIVES
    region: tuple[float, float] | None = None
    region_accuracy: float | None = None

    def __post_init__(self) -> None:
        if self.region is not None:
            e, g = self.region
            if not (math.isfinite(e) and e > 0 and 0 < g <= 1):
                raise ConfigError(f"a region needs 0 < max_epsilon < inf and 0 < max_unfairness "
                                  f"<= 1, but got {self.region}.")
        a = self.region_accuracy
        if a is not None and (self.region is None or not (isinstance(a, int | float)
                                                          and 0.0 < a < 1.0)):
            raise ConfigError(f"region_accuracy needs a region and 0 < region_accuracy < 1, but "
                              f"got region_accuracy={a!r} with region={self.region}.")
        object.__setattr__(self, "objectives", parse_objectives(self.objectives))
        if "unfairness" not in self.objectives and self.focus_unfairness is not None:
            raise ConfigError("focus_unfairness moves the unfairness reference, but the study "
                              f"does not search unfairness (objectives={self.objectives}).")
        f = self.focus_unfairness
        if f is not None and not (isinstance(f, int | float) and 0.0 < f <= 1.0):
            raise ConfigError(
                f"`0 < focus_unfairness <= 1` must hold, but got focus_unfairness={f!r}."
            )
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise ConfigError(f"`trials >= 1` must hold, but got trials={self.n_trials}.")
        if not self.study_name or not self.study_name.strip():
            raise ConfigError("the study name must be a non-empty string.")
        if self.n_startup_trials < 1:
            raise ConfigError(
                f"`n_startup_trials >= 1` must hold, but got {self.n_startup_trials}."
            )
        if self.space.parametrisation != self.problem.parametrisation:
            raise ConfigError(
                f"the search space is parametrised by {self.space.parametrisation!r} but the "
                f"problem by {self.problem.parametrisation!r}; they must agree."
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> RunConfig:
        """The run a :class:`~trifront.settings.Settings` describes (loads the data).

        Raises:
            ConfigError: For private-tuning settings, which this search would not honour.
        """
        if settings.private_tuning:
            raise ConfigError(
                "private_tuning=True is run by trifront.privtune.study.run_private_study "
                "(or `trifront run --private-tuning`), not by the adaptive search."
            )
        problem = settings.problem()
        n_public = problem.validate().n_train_public
        return cls(
            problem=problem,
            space=settings.search_space(n_train=n_public),
            n_trials=settings.trials,
            storage=settings.storage,
            study_name=settings.study_name,
            seed=settings.seed,
            sampler=settings.sampler,
            n_startup_trials=settings.startup_trials,
            execution=ExecutionConfig(jobs=settings.jobs, dask=settings.dask,
                                      trial_timeout=settings.trial_timeout),
            focus_unfairness=settings.focus_unfairness,
            anchors=not settings.no_anchors,
            objectives=parse_objectives(settings.objectives),
        )

    def settings(self) -> dict[str, Any]:
        """The settings that define a study (must match when resuming)."""
        out: dict[str, Any] = {"problem": asdict(self.problem), "space": self.space.to_dict()}
        if self.focus_unfairness is not None:
            out["focus_unfairness"] = float(self.focus_unfairness)
        if self.objectives != OBJECTIVES:
            out[SEARCHED_KEY] = list(self.objectives)
        return out


def open_study(config: RunConfig, *, create: bool = True) -> optuna.Study:
    """Create the study or load it for resumption, checking its settings match.

    The data and settings are checked first: bad input fails before the
    storage is touched.

    Raises:
        StorageError: If the storage cannot be used, or the study is missing and
            ``create`` is False.
        ConfigError: If an existing study was made with other settings.
    """
    ds = config.problem.validate()
    eps_max = config.space.epsilon_max or DEFAULT_EPSILON_MAX
    majority = scored_majority_rate(ds, cv_folds=config.problem.cv_folds)
    ref = reference_point(majority_rate=majority, epsilon_max=eps_max)
    if config.focus_unfairness is not None:
        ref = (ref[0], ref[1], float(config.focus_unfairness))
    record_ref = ref
    fixed = None
    if config.region is not None:
        e, g = float(config.region[0]), float(config.region[1])
        floor = ref[0] if config.region_accuracy is None else float(config.region_accuracy)
        ref = (floor, REGION_EPSILON_SLACK * e, g)
        if config.problem.parametrisation == "epsilon":
            fixed = {"target_epsilon": min(e, eps_max)}
    known = ({1: known_target_epsilon}
             if config.problem.parametrisation == "epsilon" and "epsilon" in config.objectives
             else None)
    sampler = make_sampler(
        config.sampler,
        seed=config.seed,
        reference_point=ref,
        known_objectives=known,
        n_startup_trials=config.n_startup_trials,
        objectives=config.objectives,
        fixed=fixed,
    )
    record = {
        **config.settings(),
        "reference_point": list(record_ref),
        "majority_rate": majority,
        "seed": config.seed,
        "sampler": config.sampler,
        "version": __version__,
    }
    study = _open_study(storage_url=config.storage, study_name=config.study_name,
                        record=record, sampler=sampler, create=create)
    if config.anchors and not study.get_trials(deepcopy=False):
        for params in config.space.anchors()[: config.n_trials]:
            study.enqueue_trial(params, user_attrs={"anchor": True})
    return study


def run_study(
    config: RunConfig,
    *,
    progress: bool = True,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> optuna.Study:
    """Run (or resume) a study until it holds ``config.n_trials`` finished trials.

    Keeps ``executor.capacity`` trials in flight (see ``config.execution``): asks
    the sampler, which sees the trials in flight as RUNNING (pending points),
    submits them, and tells each outcome as it arrives. Trials left RUNNING by
    a driver that was killed are first marked FAIL (interrupted) and their
    parameters queued to run again: an interrupted trial does not count
    against ``n_trials``, a trial that failed on its own does.

    Args:
        config: The study's configuration.
        progress: Show a progress bar on stderr.
        on_trial: Called with each finished trial.

    Returns:
        The study.

    Raises:
        KeyboardInterrupt: After stopping the workers and marking the trials in
            flight FAIL ("interrupted", queued to run again on resume);
            finished trials are kept.
        ExecutionError: If worker processes cannot be started.
    """
    # Start the workers first: they boot (import torch, load the data set) while
    # the driver opens the study.
    executor = make_executor(config.execution, initializer=config.problem.validate)
    try:
        study = open_study(config)
        requeue_interrupted(study, config.space.distributions())
    except BaseException:
        executor.close()
        raise
    done = counted_trials(study)
    remaining = max(0, config.n_trials - done)
    # One torch thread in the driver (the sampler's tensors are tiny) and one per
    # worker: oversubscribed cores slow both training and proposals.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    bar = tqdm(
        total=config.n_trials,
        initial=done,
        desc=f"study {config.study_name}",
        unit="trial",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )

    def finished(frozen: optuna.trial.FrozenTrial) -> None:
        if frozen.state == TrialState.COMPLETE and frozen.values:
            acc, eps, gap = frozen.values
            bar.set_postfix_str(f"acc={acc:.3f} eps={eps:.3g} gap={gap:.3f}")
        bar.update(1)
        if on_trial is not None:
            on_trial(frozen)

    try:
        if remaining:
            with _interrupt_flag() as interrupted:
                _drive(
                    study,
                    config,
                    executor,
                    remaining=remaining,
                    on_trial=finished,
                    interrupted=interrupted,
                )
    finally:
        executor.close()
        bar.close()
        torch.set_num_threads(threads)
    return study


#: Modules whose calls a Ctrl-C must not cut short: the study's storage. An
#: interrupt inside a SQLite read leaves its statement open, and the shared lock
#: it holds refuses every later write of this process ("database is locked"),
#: so the trials in flight could not be marked.
_STORAGE_MODULES = ("sqlalchemy", "optuna.storages")


def _in_storage_call(frame: Any) -> bool:
    """Whether ``frame`` or one of its callers runs the storage's code."""
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(_STORAGE_MODULES):
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def _interrupt_flag() -> Iterator[threading.Event]:
    """An event set by Ctrl-C (SIGINT) while the block runs, which also raises.

    Python raises ``KeyboardInterrupt`` wherever the main thread is when the
    signal arrives; inside a garbage-collector callback (SQLAlchemy registers
    some) the exception is printed as "ignored" and lost, and the study would
    run on. The event keeps the interrupt, and the driver checks it at every
    step. Inside a storage call the first Ctrl-C only sets the event: the call
    (milliseconds) finishes, and the driver stops at its next check. Outside
    the main thread (no signal handler can be set) the event never fires and
    Ctrl-C behaves as before.
    """
    event = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        # A second Ctrl-C raises even there, should a storage call hang.
        again = event.is_set()
        event.set()
        if again or not _in_storage_call(frame):
            signal.default_int_handler(signum, frame)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield event
        return
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


def _drive(
    study: optuna.Study,
    config: RunConfig,
    executor: Executor,
    *,
    remaining: int,
    on_trial: Callable[[optuna.trial.FrozenTrial], None],
    interrupted: threading.Event | None = None,
) -> None:
    """Ask, submit and tell until ``remaining`` more trials have finished.

    ``interrupted``, when set, stops the loop with ``KeyboardInterrupt`` at the
    next step (see ``_interrupt_flag``).
    """

    def check() -> None:
        if interrupted is not None and interrupted.is_set():
            raise KeyboardInterrupt

    sampler = study.sampler if isinstance(study.sampler, TrifrontSampler) else None
    # One proposal per free slot would make the driver the queue when a trial trains
    # faster than a proposal is made: with workers, one fit proposes every trial that
    # can be in flight (with two workers five: each worker's trial, the one in its
    # pipe, one queued) and the one asked when the next slot frees; never more than
    # the study still needs (measured in bench/RESULTS.md, issue 19).
    batch = 1 if executor.capacity == 1 else executor.capacity + 1
    distributions = config.space.distributions()
    in_flight: dict[int, optuna.Trial] = {}
    asked = 0
    # Trials that were there before this driver asked for any (queued ones, such
    # as the anchors, are asked by this driver and so are not among them).
    before = {t.number for t in study.get_trials(deepcopy=False)
              if t.state != TrialState.WAITING}
    try:
        while asked < remaining or in_flight:
            check()
            while asked < remaining and len(in_flight) < executor.capacity:
                if sampler is not None:
                    sampler.batch = min(batch, remaining - asked)
                trial = study.ask(distributions)
                in_flight[trial.number] = trial
                asked += 1
                check()  # an interrupt held back while ask wrote to the storage
                seed = trial_seed(config.seed, trial.number)
                trial.set_user_attr("seed", seed)
                if config.region is not None:
                    trial.set_user_attr("region", list(config.region))
                executor.submit(Task(key=trial.number, problem=config.problem,
                                     params=trial.params, seed=seed, evaluate=config.evaluate))
            check()
            outcomes = executor.wait()
            if not outcomes:
                raise ExecutionError(
                    f"the executor returned no outcome for trials {sorted(in_flight)} in flight."
                )
            for outcome in outcomes:
                on_trial(tell_outcome(study, in_flight.pop(outcome.key), outcome))
    except BaseException as exc:
        # Stop the workers first, so no trial finishes after it was marked.
        executor.close()
        # Ctrl-C inside a library call can come out as another error (SQLAlchemy's
        # commit asserts when interrupted mid-way): the flag says it was the user's.
        ctrl_c = isinstance(exc, KeyboardInterrupt) or (
            interrupted is not None and interrupted.is_set())
        reason = "interrupted" if ctrl_c else f"driver stopped by {exc.__class__.__name__}: {exc}"
        def mark(s: optuna.Study) -> None:
            # In flight, or asked when the interrupt came (not yet submitted).
            for t in s.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if t.number not in before:
                    fail_trial(s, t, reason, interrupted=True, names=distributions)

        try:
            mark(study)
        except Exception:
            # A storage call that failed, or one a second Ctrl-C cut short (the first
            # waits for it, see _interrupt_flag), can leave this connection unusable and
            # holding SQLite's write lock in a transaction it never ended: end it, then
            # mark through a fresh connection (a few tries while the lock clears). If
            # the storage itself failed, a resume recovers.
            with contextlib.suppress(Exception):
                study._storage.remove_session()
            for _ in range(3):
                try:
                    mark(optuna.load_study(study_name=study.study_name,
                                           storage=config.storage))
                    break
                except Exception:
                    time.sleep(0.2)
        if ctrl_c and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt from exc
        raise


def tell_outcome(
    study: optuna.Study, trial: optuna.Trial, outcome: Outcome
) -> optuna.trial.FrozenTrial:
    """Record an executor's outcome on its trial and finish the trial.

    Sets the user attributes ``worker``, ``seconds`` (training + evaluation on
    the worker) and ``queue_seconds`` (submission to start); on failure
    ``fail_reason`` (and ``fail_traceback`` for an exception), otherwise the
    result's bookkeeping. A result with a non-finite objective is a FAIL.

    Returns:
        The finished trial.
    """
    trial.set_user_attr("worker", outcome.worker)
    trial.set_user_attr("seconds", outcome.seconds)
    trial.set_user_attr("queue_seconds", outcome.queue_seconds)
    if outcome.result is None:
        trial.set_user_attr("fail_reason", outcome.error or "unknown failure")
        if outcome.traceback:
            trial.set_user_attr("fail_traceback", outcome.traceback[-4000:])
        return study.tell(trial, state=TrialState.FAIL)
    store_result(trial, outcome.result)
    values = list(outcome.result.values)
    if not all(math.isfinite(v) for v in values):
        trial.set_user_attr("fail_reason", f"non-finite objective values {values}")
        return study.tell(trial, state=TrialState.FAIL)
    return study.tell(trial, values)


def run(*, progress: bool = True, space: SearchSpace | Mapping[str, Any] | None = None,
        **settings: Any) -> optuna.Study:
    """Run or resume a trifront study: the Python face of ``trifront run``.

    Takes every setting ``trifront run`` takes, by its flag name with ``_``
    (see :class:`~trifront.settings.Settings`): ``dataset``, ``data``,
    ``label``, ``schema``, ``model``, ``trials`` (alias ``n_trials``),
    ``storage``, ``study`` (alias ``study_name``), ``max_epsilon``, ``jobs``,
    ``reproducible``, ...

    Args:
        progress: Show a progress bar.
        space: A whole search space instead of the model's default, or (a
            mapping, as in a config file's ``[space]`` table) bound overrides
            of the default space: ``{"reweigh": {"high": 3}}``.
        **settings: The run's settings.

    Returns:
        The Optuna study (directions: maximise accuracy, minimise epsilon,
        minimise unfairness).

    Raises:
        ConfigError: On an unknown setting or a bad value.
    """
    if isinstance(space, Mapping):  # the ``space`` setting (bounds), not a SearchSpace
        settings, space = {**settings, "space": space}, None
    s = Settings.from_mapping(settings, where="trifront.run")
    config = RunConfig.from_settings(s)
    if space is not None:
        config = replace(config, space=space.with_bounds(s.space))
    return run_study(config, progress=progress)
