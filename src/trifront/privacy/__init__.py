"""Differential privacy: DP-SGD engines (Opacus reference, fast vectorised) and accounting."""

from trifront.privacy.accounting import (
    ACCOUNTANTS,
    PrivacySpend,
    account,
    check_delta,
    epsilon,
    noise_for_epsilon,
    sampling_schedule,
)
from trifront.privacy.dpsgd import TrainConfig, TrainLog
from trifront.privacy.engines import ENGINES, train

__all__ = [
    "ACCOUNTANTS",
    "ENGINES",
    "PrivacySpend",
    "TrainConfig",
    "TrainLog",
    "account",
    "check_delta",
    "epsilon",
    "noise_for_epsilon",
    "sampling_schedule",
    "train",
]
