"""Tests of `checkout/`."""
