"""Tests of `flashsale/front/admission/`."""
