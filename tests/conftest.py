"""Test-suite settings shared by every test module."""

import os

import pytest
from hypothesis import settings

# Property tests explore a fixed sequence of examples, so CI is reproducible;
# run with HYPOTHESIS_PROFILE=explore to search with fresh random examples.
settings.register_profile("trifront", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "trifront"))


@pytest.fixture
def one_torch_thread():
    """Train with one torch intra-op thread (as the engines do), restoring the count after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
