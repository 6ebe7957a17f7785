"""Tests of `inventory/`."""
