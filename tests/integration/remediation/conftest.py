"""A fresh fake API server, adapter, ledger and engine per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.remediation.rig import KubeRig, build_rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[KubeRig]:
    built = build_rig(tmp_path)
    yield built
    built.close()
