"""Tests of `flashsale/demo/`."""
