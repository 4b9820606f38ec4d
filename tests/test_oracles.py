"""A missing oracle skips on a newcomer's machine and fails under CI=true (tests/oracles.py)."""

import pytest
from _pytest.outcomes import Failed, Skipped

from oracles import import_oracle


def test_a_missing_oracle_skips_and_says_why(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(Skipped, match="no_such_oracle_library is not installed"):
        import_oracle("no_such_oracle_library")


def test_a_missing_oracle_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(Failed, match="CI=true but the oracle no_such_oracle_library"):
        import_oracle("no_such_oracle_library")


def test_a_present_oracle_is_returned(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert import_oracle("json").dumps([1]) == "[1]"
