"""Fixtures shared by the loops' wire tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakekube import FakeApiServer, start_fake_apiserver


@pytest.fixture
def fake() -> Iterator[FakeApiServer]:
    """The in-repo fake Kubernetes API server, with quick watch bookmarks."""
    server = start_fake_apiserver(bookmark_interval=0.2)
    yield server
    server.stop()
