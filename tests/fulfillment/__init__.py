"""Tests of `fulfillment/`."""
