"""The private-tuning study's ε is dp-accounting's RDP accountant on RepeatAndSelectDpEvent."""

import math

import pytest
from dp_accounting import dp_event
from dp_accounting.rdp import rdp_privacy_accountant as rdp

from trifront.errors import PrivacyError
from trifront.privacy.accounting import study_epsilon


def _direct(sigma, q, steps, extras, delta, mean, shape):
    """The same event written out here, then one call of the library."""
    events = [dp_event.SelfComposedDpEvent(
        dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)]
    events += [dp_event.GaussianDpEvent(s) for s in extras]
    acc = rdp.RdpAccountant()
    acc.compose(dp_event.RepeatAndSelectDpEvent(dp_event.ComposedDpEvent(events), mean, shape))
    return acc.get_epsilon(delta)


@pytest.mark.parametrize(("sigma", "q", "steps", "extras", "mean", "shape"), [
    (1.3, 0.014, 360, (15.0, 7.5, 15.2, 15.2), 10.0, 0.0),
    (1.3, 0.014, 360, (15.2, 15.2), 10.0, 1.0),
    (0.9, 0.05, 100, (4.0,), 5.0, 2.0),
    (2.0, 0.002, 5000, (30.0, 30.0), 20.0, math.inf),
])
def test_equals_a_direct_library_call(sigma, q, steps, extras, mean, shape):
    ours = study_epsilon(noise_multiplier=sigma, sample_rate=q, steps=steps,
                         extra_gaussians=extras, delta=1e-5, mean=mean, shape=shape)
    assert ours == pytest.approx(_direct(sigma, q, steps, extras, 1e-5, mean, shape), rel=1e-12)


def test_selection_costs_more_than_one_run_and_grows_with_the_mean():
    one = rdp.RdpAccountant()
    one.compose(dp_event.SelfComposedDpEvent(
        dp_event.PoissonSampledDpEvent(0.01, dp_event.GaussianDpEvent(1.5)), 500))
    single = one.get_epsilon(1e-5)
    kw = {"noise_multiplier": 1.5, "sample_rate": 0.01, "steps": 500, "extra_gaussians": (),
          "delta": 1e-5, "shape": 1.0}
    eps = [study_epsilon(mean=m, **kw) for m in (2.0, 5.0, 10.0, 40.0)]
    assert single < eps[0] < eps[1] < eps[2] < eps[3]
    # random stopping: far below composing the mean number of runs
    assert eps[2] < 10 * single / 2


@pytest.mark.parametrize(("kw", "message"), [
    ({"mean": 0.5}, "mean >= 1"), ({"shape": -1.0}, "shape >= 0"),
    ({"noise_multiplier": 0.0}, "noise multiplier > 0"), ({"delta": 0.0}, "delta"),
])
def test_bad_input_is_refused(kw, message):
    args = {"noise_multiplier": 1.0, "sample_rate": 0.01, "steps": 10, "extra_gaussians": (),
            "delta": 1e-5, "mean": 5.0, "shape": 1.0, **kw}
    with pytest.raises(PrivacyError, match=message):
        study_epsilon(**args)
