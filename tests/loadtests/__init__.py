"""Tests of `loadtests/`."""
