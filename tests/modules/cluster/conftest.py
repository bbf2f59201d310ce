"""The cluster modules' tests use the ``lab`` fixture of tests/modules/conftest.py: the session's real
lab and a namespace per test."""
