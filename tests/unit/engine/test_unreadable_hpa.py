"""A workload whose HPA cannot be read is left out of the engine's snapshot: in it
without its HPA, a runbook's scale would write the replicas the HPA controller owns."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agent.errors import PermanentError
from remediation.ports import HpaState, ObjectRef
from tests.unit.engine.harness import WEB, runbook_rig, web


def test_a_workload_whose_hpa_cannot_be_read_is_left_out_of_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = runbook_rig(tmp_path)
    api = ObjectRef("Deployment", "api", "shop")
    r.sim.add_workload(replace(web(), ref=api, labels={"app": "api"}))
    read = r.sim.get_hpa_for

    def get_hpa_for(ref: ObjectRef) -> HpaState | None:
        if ref == WEB:  # as the Kubernetes adapter says of an HPA it cannot read
            raise PermanentError("an HPA that may scale it cannot be read", reason="BadObject")
        return read(ref)

    monkeypatch.setattr(r.sim, "get_hpa_for", get_hpa_for)
    snapshot = r.engine.snapshot()
    assert [w.ref for w in snapshot.workloads] == [api]
    assert snapshot.hpas == ()

    def refused(ref: ObjectRef) -> HpaState | None:
        raise PermanentError("forbidden", reason="Forbidden")

    monkeypatch.setattr(r.sim, "get_hpa_for", refused)
    with pytest.raises(PermanentError, match="forbidden"):  # any other error as before
        r.engine.snapshot()
