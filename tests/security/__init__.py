"""Regression tests of the security findings of issue 9, one file per finding."""
