"""Tests of `flashsale/stack/`."""
