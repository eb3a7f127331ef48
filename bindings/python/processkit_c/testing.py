"""A pytest plugin with processkit's test doubles as fixtures. Enable it in a
conftest.py (`pytest_plugins = ["processkit_c.testing"]`) or with
`pytest -p processkit_c.testing`:

    def test_head(scripted_runner):
        scripted_runner.expect(["git", "rev-parse"], Reply.ok("3f9c2e1\\n"))
        assert head(scripted_runner) == "3f9c2e1"

    def test_build(cassette):
        runner = cassette("tests/cassettes/build.json")   # replays; records when PROCESSKIT_RECORD=1
        ...
"""
from __future__ import annotations

import os
from typing import Callable, Iterator, List, Optional, Union

import pytest

from .runner import RecordReplayRunner, Runner, ScriptedRunner

__all__ = ["scripted_runner", "cassette"]

CassetteFactory = Callable[..., RecordReplayRunner]


@pytest.fixture
def scripted_runner() -> ScriptedRunner:
    """A fresh ScriptedRunner (no expectations, no fallback)."""
    return ScriptedRunner()


@pytest.fixture
def cassette() -> Iterator[CassetteFactory]:
    """cassette(path, mode=None, inner=None) -> a RecordReplayRunner, closed
    (a recording written) when the test ends. mode None: "record" when
    $PROCESSKIT_RECORD is "1", else "replay"."""
    opened: List[RecordReplayRunner] = []

    def make(path: Union[str, "os.PathLike[str]"], mode: Optional[str] = None,
             inner: Optional[Runner] = None) -> RecordReplayRunner:
        chosen = mode or ("record" if os.environ.get("PROCESSKIT_RECORD") == "1" else "replay")
        runner = RecordReplayRunner(path, chosen, inner)
        opened.append(runner)
        return runner

    yield make
    for runner in opened:
        runner.close()
