"""Fixtures of the pipeline tests: ``own``, the settings with this test's own topic prefix."""

from tests.support.fulfillment import own

__all__ = ["own"]
