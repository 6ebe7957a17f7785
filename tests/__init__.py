"""The test suite: one folder per package of the tree (tests/core ↔ flashsale/core, …), the
importable harness in ``tests.support``, fixtures in the nearest ``conftest.py``."""
