"""Tests of `flashsale/front/`."""
