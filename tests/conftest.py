"""Shared test set-up. Fixtures live in tests/fixtures/*, one module per part of the system."""

pytest_plugins = ["tests.fixtures.simulator", "tests.fixtures.aws"]
