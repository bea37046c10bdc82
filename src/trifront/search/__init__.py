"""Search: the trifront sampler (BoTorch MOBO on an Optuna study) and the baselines.

Never imports training code; the runner passes the reference point and the
known objectives. The sampler benchmark (``trifront.search.benchmark``, behind
``trifront bench``) runs training, so it is not imported here: the CLI imports
it when the command runs.
"""

from trifront.search.registry import SAMPLERS, make_sampler
from trifront.search.sampler import (
    ACQUISITIONS,
    PROPOSAL_KIND,
    PROPOSAL_SECONDS,
    TrifrontSampler,
)

__all__ = [
    "ACQUISITIONS",
    "PROPOSAL_KIND",
    "PROPOSAL_SECONDS",
    "SAMPLERS",
    "TrifrontSampler",
    "make_sampler",
]
