"""Tests of `flashsale/cli/`."""
