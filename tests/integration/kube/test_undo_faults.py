"""Undo faults found by a review of the writers' undo, through the real client against
the fake API server."""

from __future__ import annotations

from typing import Any

from agent.adapters.kubernetes import KubernetesCluster
from remediation.ports import ObjectRef, PatchResources
from tests.fakekube import FakeApiServer

WEB = ObjectRef("Deployment", "web", "shop")


def _resources(fake: FakeApiServer) -> dict[str, Any]:
    (web,) = [d for d in fake.store.objects("Deployment", "shop") if d["metadata"]["name"] == "web"]
    resources: dict[str, Any] = web["spec"]["template"]["spec"]["containers"][0]["resources"]
    return resources


def test_a_resources_undo_takes_the_server_s_spelling_of_the_quantity_written_for_it(
    fake: FakeApiServer, cluster: KubernetesCluster, shop: Any
) -> None:
    # Planning writes a memory limit as ``format_memory`` spells it: 1.5 x 1G is
    # "1500000000". The API server keeps a quantity in its canonical form, so the
    # Deployment then reads "1500M" (the fake server keeps what it is sent: the modify
    # below stands for that). Before, the undo compared the strings, took "1500M" for
    # someone else's change (ChangedSinceWrite) and left the raised limit in place.
    operation = PatchResources(WEB, "web", limits={"memory": "1500000000"})
    result = cluster.apply(operation)
    assert result.before["limits"] == {"memory": "256Mi"}
    fake.store.modify(
        "Deployment",
        "shop",
        "web",
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(
            memory="1500M"
        ),
    )
    undone = cluster.undo(operation, result.before)
    assert _resources(fake)["limits"] == {"memory": "256Mi"}
    assert "restored" in undone.summary
