from __future__ import annotations

from medlethe import optional_import

optional_import(
    "medlethe_test_absent_pkg",
    component="metric 'needs_missing_lib'",
    install="pip install medlethe-test-absent-pkg",
)
