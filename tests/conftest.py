"""Shared test set-up. Fixtures live in tests/fixtures/*, one module per part of the system."""

import pytest

from timereports.intervals.reference import DEFAULT_LOOKED_FOR, DEFAULT_REFERENCE_CACHE

pytest_plugins = ["tests.fixtures.simulator", "tests.fixtures.aws"]


@pytest.fixture(autouse=True)
def _fresh_reference_cache() -> None:
    """Clients share a process-wide reference cache; a test must not see an earlier simulator's data."""
    DEFAULT_REFERENCE_CACHE.clear()
    DEFAULT_LOOKED_FOR.clear()
