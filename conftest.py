"""Workspace-wide pytest settings: property tests are derandomised under CI so that a run is repeatable."""

from __future__ import annotations

import os

try:
    from hypothesis import settings
except ImportError:  # a plugin environment without hypothesis
    pass
else:
    settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    settings.register_profile("dev", deadline=None)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")
