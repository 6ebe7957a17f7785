"""Tests of `catalog/`."""
