"""Privacy accounting for Poisson-subsampled Gaussian DP-SGD: ε for σ, and σ for ε.

Every number here is at the add-or-remove-one neighbouring relation, for
``steps`` compositions of the Poisson-subsampled Gaussian mechanism (each
example in a batch with probability ``sample_rate``, noise standard deviation
``noise_multiplier`` times the clipping norm), optionally composed with
Gaussian releases of statistics of the same data. Every accountant reports a
sound upper bound of ε; ``"pld"`` is the default and ``"gdp"`` is refused.

One idea per module:

* :mod:`~trifront.privacy.accounting.checks`: input checks, the accepted and
  refused accountants, :func:`check_delta` and :func:`sampling_schedule`;
* :mod:`~trifront.privacy.accounting.gaussian`: the plain Gaussian mechanism
  (the fairness knobs' statistics), composed exactly into one;
* :mod:`~trifront.privacy.accounting.rdp`, :mod:`~trifront.privacy.accounting.prv`,
  :mod:`~trifront.privacy.accounting.pld`: the three backends, each with its
  accuracy and cost;
* :mod:`~trifront.privacy.accounting.backends`: :func:`epsilon`, the dispatch
  to a backend and its cache;
* :mod:`~trifront.privacy.accounting.calibration`: :func:`noise_for_epsilon`,
  the σ solver;
* :mod:`~trifront.privacy.accounting.spend`: :class:`PrivacySpend` and
  :func:`account`, the record of one run with its RDP cross-check;
* :mod:`~trifront.privacy.accounting.repeat`: :func:`study_epsilon`, the ε of
  a private-tuning study (the best of a random number of runs, RDP).
"""

from trifront.privacy.accounting.backends import epsilon
from trifront.privacy.accounting.calibration import (
    MAX_NOISE_MULTIPLIER,
    MIN_NOISE_MULTIPLIER,
    noise_for_epsilon,
)
from trifront.privacy.accounting.checks import (
    ACCOUNTANTS,
    DEFAULT_ACCOUNTANT,
    check_delta,
    sampling_schedule,
)
from trifront.privacy.accounting.gaussian import (
    combined_noise_multiplier,
    gaussian_epsilon,
    gaussian_noise_for_epsilon,
)
from trifront.privacy.accounting.prv import MAX_PRV_GRID
from trifront.privacy.accounting.repeat import (
    RUN_COUNT_SHAPES,
    parse_shape,
    run_event,
    study_epsilon,
)
from trifront.privacy.accounting.spend import PrivacySpend, account

__all__ = [
    "ACCOUNTANTS",
    "DEFAULT_ACCOUNTANT",
    "MAX_PRV_GRID",
    "MAX_NOISE_MULTIPLIER",
    "MIN_NOISE_MULTIPLIER",
    "PrivacySpend",
    "RUN_COUNT_SHAPES",
    "account",
    "check_delta",
    "combined_noise_multiplier",
    "epsilon",
    "gaussian_epsilon",
    "gaussian_noise_for_epsilon",
    "noise_for_epsilon",
    "parse_shape",
    "run_event",
    "study_epsilon",
    "sampling_schedule",
]
