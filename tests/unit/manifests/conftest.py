"""Rendered manifests, shared by the manifest tests (rendering is cheap but not free)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.manifests.kustomize import Obj, render

REPO = Path(__file__).resolve().parents[3]
BASE = REPO / "manifests"
E2E_OVERLAY = REPO / "tests" / "e2e" / "overlay"


@pytest.fixture(scope="session")
def base() -> list[Obj]:
    return render(BASE)


@pytest.fixture(scope="session")
def overlay() -> list[Obj]:
    return render(E2E_OVERLAY)
