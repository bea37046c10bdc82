"""ε of a whole private-tuning study: repeat one run a random number of times, keep the best.

Papernot & Steinke (ICLR 2022, "Hyperparameter tuning with Rényi differential
privacy", arXiv 2110.03620): if one run ``Q`` is Rényi-DP, then running it ``K``
times, with ``K`` drawn from a truncated negative binomial (shape η: 0 is the
logarithmic distribution, 1 the geometric) or a Poisson distribution
(Theorem 6), and releasing only the best run's output, is Rényi-DP with an
overhead that grows like ``log E[K]`` instead of ``E[K]`` (Theorem 2).

We do not re-derive the theorem: dp-accounting's RDP accountant implements it
for ``RepeatAndSelectDpEvent``, and :func:`study_epsilon` is one call of it on
the event of one run (:func:`run_event`): ``steps`` Poisson-subsampled
Gaussians (DP-SGD) composed with every other Gaussian release of the run (the
knobs' statistics, the noisy validation and test scores). The PLD accountant
does not support this event, so a private-tuning study is stated with RDP
(looser than PLD for one run, but the only sound accountant of the selection).

The theorem's preconditions, which :mod:`trifront.privtune` guarantees and
tests: every run is the same randomised algorithm (same q, T, σ and Gaussians;
hyperparameters drawn afresh from a fixed prior, never from earlier results);
``K`` is drawn independently of the data, from the stated distribution, and is
never released; only the best run's output is released, by a rule that reads
that run's own noisy scores.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from trifront.errors import ConfigError, PrivacyError

__all__ = ["RUN_COUNT_SHAPES", "parse_shape", "run_event", "study_epsilon"]

#: The named distributions of the number of runs, as the shape η of dp-accounting.
RUN_COUNT_SHAPES: dict[str, float] = {"logarithmic": 0.0, "geometric": 1.0,
                                      "poisson": math.inf}


def parse_shape(shape: float | str) -> float:
    """The shape η of a run-count distribution given as a number or a name.

    Names: ``logarithmic`` (0), ``geometric`` (1), ``poisson`` (inf).

    Raises:
        ConfigError: If it is neither a number >= 0 nor a name.
    """
    if isinstance(shape, str):
        key = shape.strip().lower()
        if key in RUN_COUNT_SHAPES:
            return RUN_COUNT_SHAPES[key]
        try:
            value = float(key)
        except ValueError:
            raise ConfigError(
                f"shape must be a number >= 0 or one of {sorted(RUN_COUNT_SHAPES)}, but got "
                f"shape={shape!r}."
            ) from None
    elif isinstance(shape, bool) or not isinstance(shape, int | float):
        raise ConfigError(f"shape must be a number >= 0 or a name, but got shape={shape!r}.")
    else:
        value = float(shape)
    if not value >= 0:
        raise ConfigError("`shape >= 0` must hold (0 logarithmic, 1 geometric, inf Poisson), "
                          f"but got shape={shape!r}.")
    return value


def run_event(
    *, noise_multiplier: float, sample_rate: float, steps: int,
    extra_gaussians: Sequence[float] = (),
) -> object:
    """dp-accounting's event of one run: DP-SGD composed with its other Gaussians.

    Args:
        noise_multiplier: DP-SGD's σ (``> 0``).
        sample_rate: Poisson rate q.
        steps: DP-SGD steps T.
        extra_gaussians: Noise multipliers (std / L2 sensitivity) of every
            other Gaussian release of the run.
    """
    from dp_accounting import dp_event

    if not (noise_multiplier > 0 and math.isfinite(noise_multiplier)):
        raise PrivacyError(
            f"a private-tuning run needs a finite noise multiplier > 0, but got {noise_multiplier}."
        )
    events: list[object] = [dp_event.SelfComposedDpEvent(
        dp_event.PoissonSampledDpEvent(float(sample_rate),
                                       dp_event.GaussianDpEvent(float(noise_multiplier))),
        int(steps),
    )]
    for s in extra_gaussians:
        if not (s > 0):
            raise PrivacyError(f"every Gaussian release needs a noise multiplier > 0, got {s}.")
        if math.isfinite(s):
            events.append(dp_event.GaussianDpEvent(float(s)))
    return dp_event.ComposedDpEvent(events)


def study_epsilon(
    *, noise_multiplier: float, sample_rate: float, steps: int,
    extra_gaussians: Sequence[float], delta: float, mean: float, shape: float,
) -> float:
    """ε at ``delta`` of releasing the best of ``K`` runs, ``K`` with the given mean and shape.

    Args:
        noise_multiplier, sample_rate, steps, extra_gaussians: One run (see
            :func:`run_event`).
        delta: δ of the whole study.
        mean: ``E[K] >= 1``.
        shape: η ``>= 0`` (0 logarithmic, 1 geometric, ``inf`` Poisson).

    Raises:
        PrivacyError: On an out-of-range mean, shape or δ, or if the library
            cannot account the event.
    """
    from dp_accounting import dp_event
    from dp_accounting.rdp import rdp_privacy_accountant as rdp

    if not (math.isfinite(mean) and mean >= 1):
        raise PrivacyError(f"`mean >= 1` must hold for the number of runs, but got mean={mean}.")
    if not shape >= 0:
        raise PrivacyError(f"`shape >= 0` must hold, but got shape={shape}.")
    if not 0 < delta < 1:
        raise PrivacyError(f"`0 < delta < 1` must hold, but got delta={delta}.")
    event = dp_event.RepeatAndSelectDpEvent(
        run_event(noise_multiplier=noise_multiplier, sample_rate=sample_rate, steps=steps,
                  extra_gaussians=extra_gaussians),
        float(mean), float(shape),
    )
    accountant = rdp.RdpAccountant()
    if not accountant.supports(event):
        raise PrivacyError(f"dp-accounting's RDP accountant cannot account {event}.")
    # dp-accounting logs (through absl) when a fractional order's series does not
    # converge; it then leaves that order out, which keeps the bound sound.
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        accountant.compose(event)
        eps = float(accountant.get_epsilon(float(delta)))
    finally:
        absl.setLevel(level)
    if not eps >= 0 or math.isnan(eps):
        raise PrivacyError(f"the RDP accountant returned epsilon={eps} for {event}.")
    return eps
