"""Settings under which a private-tuning study's guarantee would not hold are refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trifront.errors import ConfigError

if TYPE_CHECKING:
    from trifront.settings import Settings

__all__ = ["NON_ADAPTIVE_SAMPLERS", "check_settings"]

#: Samplers a private-tuning study accepts: "random" (what it does). The unset
#: default ("trifront") is replaced by it; the CLI refuses an explicit adaptive one.
NON_ADAPTIVE_SAMPLERS = ("random",)


def check_settings(settings: Settings) -> None:
    """Refuse settings under which the study's guarantee would not hold.

    Raises:
        ConfigError: On a missing or bad study epsilon, an adaptive sampler,
            seeded noise without acknowledgement, public statistics, or a user
            file without a declared schema.
    """
    if settings.study_epsilon is None:
        raise ConfigError("--private-tuning needs --study-epsilon E, the budget of the whole "
                          "study (a number > 0).")
    if settings.sampler not in (*NON_ADAPTIVE_SAMPLERS, "trifront"):
        raise ConfigError(
            f"--private-tuning draws every candidate independently from a fixed prior; the "
            f"adaptive sampler {settings.sampler!r} is not covered by its theorem (accepted: "
            "random, or no --sampler)."
        )
    if settings.reproducible and not settings.acknowledge_seeded_noise:
        raise ConfigError(
            "--private-tuning with --reproducible seeds the noise, the number of runs and the "
            "splits from the public --seed, which voids the guarantee; add "
            "--acknowledge-seeded-noise to run it anyway (research only)."
        )
    if settings.public_statistics:
        raise ConfigError("--private-tuning covers every statistic with noise; "
                          "--public-statistics is not accepted with it.")
    if settings.data is not None and settings.schema is None:
        raise ConfigError("--private-tuning on a user file needs a declared schema (--schema): "
                          "an encoding read from the rows is not covered by epsilon.")


