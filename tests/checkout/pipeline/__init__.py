"""Tests of `checkout/pipeline/`."""
