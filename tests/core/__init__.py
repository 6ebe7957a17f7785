"""Tests of `flashsale/core/`."""
