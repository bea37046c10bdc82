"""Test-suite settings shared by every test module."""

import os

from hypothesis import settings

# Property tests explore a fixed sequence of examples, so CI is reproducible;
# run with HYPOTHESIS_PROFILE=explore to search with fresh random examples.
settings.register_profile("trifront", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "trifront"))
