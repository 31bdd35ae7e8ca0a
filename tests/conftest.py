from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.memory_keyring"]  # the memory_keyring fixture, for every test file

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixture_text():
    def read(name: str) -> str:
        return (FIXTURES / name).read_text()
    return read


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """No test reads or writes the user's real config or data."""
    monkeypatch.setenv("CRYPTOTERM_HOME", str(tmp_path / "home"))
