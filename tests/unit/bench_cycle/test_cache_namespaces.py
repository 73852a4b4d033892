"""``WatchCache.items(namespace)`` answers what filtering ``items()`` answers, in the
same order, through any sequence of watch events and re-lists."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.adapters.kube_cache import WatchCache

NAMESPACES = ["shop", "infra", "team-0001"]


class ListOnly:
    """The one ``KubeApi`` call a re-list makes, answering what the test set."""

    def __init__(self) -> None:
        self.answer: list[dict[str, Any]] = []

    def list(self, kind: str, namespace: str | None) -> tuple[list[dict[str, Any]], str]:
        return [dict(o) for o in self.answer], "1"


def pod(namespace: str, name: str, version: int) -> dict[str, Any]:
    meta = {"namespace": namespace, "name": name, "resourceVersion": str(version)}
    return {"metadata": meta}


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["ADDED", "MODIFIED", "DELETED", "RELIST"]),
        st.sampled_from(NAMESPACES),
        st.sampled_from(["a", "b", "c", "d"]),
        st.lists(st.tuples(st.sampled_from(NAMESPACES), st.sampled_from("abcd")), max_size=5),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(EVENTS)
def test_namespace_reads_match_filtered_reads(events: list[Any]) -> None:
    api = ListOnly()
    cache = WatchCache(api, "Pod")  # type: ignore[arg-type]
    for version, (kind, namespace, name, listed) in enumerate(events, start=2):
        if kind == "RELIST":
            api.answer = [pod(ns, n, version) for ns, n in dict.fromkeys(listed)]
            cache.relist()
        else:
            cache._apply({"type": kind, "object": pod(namespace, name, version)})
        everything = cache.items()
        for ns in NAMESPACES:
            expected = [o for o in everything if o["metadata"]["namespace"] == ns]
            assert cache.items(ns) == expected
            assert all(o is e for o, e in zip(cache.items(ns), expected, strict=True))


def test_an_unknown_namespace_is_empty_and_none_means_all() -> None:
    cache = WatchCache(ListOnly(), "Pod")  # type: ignore[arg-type]
    cache._apply({"type": "ADDED", "object": pod("shop", "a", 2)})
    cache._apply({"type": "ADDED", "object": pod("infra", "b", 3)})
    cache._apply({"type": "DELETED", "object": pod("infra", "b", 4)})
    assert cache.items("nowhere") == [] and cache.items("infra") == []
    assert [o["metadata"]["name"] for o in cache.items(None)] == ["a"]


def test_managed_fields_are_not_kept_and_everything_else_is() -> None:
    owners = [{"manager": "kubelet", "operation": "Update", "fieldsV1": {"f:status": {}}}]

    def annotated(version: int) -> dict[str, Any]:
        obj = pod("shop", "a", version)
        obj["metadata"]["managedFields"] = list(owners)
        obj["metadata"]["labels"] = {"app": "shop"}
        obj["status"] = {"phase": "Running"}
        return obj

    api = ListOnly()
    api.answer = [annotated(1)]
    cache = WatchCache(api, "Pod")  # type: ignore[arg-type]
    cache.relist()
    cache._apply({"type": "MODIFIED", "object": annotated(2)})
    cache._apply({"type": "ADDED", "object": {**pod("infra", "b", 3), "spec": {}}})
    for obj in cache.items():
        assert "managedFields" not in obj["metadata"]
    kept = cache.get("shop", "a")
    assert kept is not None
    assert kept["metadata"]["labels"] == {"app": "shop"}
    assert kept["metadata"]["resourceVersion"] == "2"
    assert kept["status"] == {"phase": "Running"}


def test_equal_strings_in_different_objects_are_kept_once() -> None:
    # Each watch event and list is a JSON document of its own, decoding its own copy of
    # every namespace, node name, label and phase; the cache keeps one of each.
    def decoded(name: str, version: int) -> dict[str, Any]:
        obj = pod("shop", name, version)
        obj["spec"] = {"nodeName": "node-00001", "containers": [{"image": "shop:v2"}]}
        obj["status"] = {"phase": "Running", "conditions": [["Ready", "True"]]}
        return json.loads(json.dumps(obj))  # fresh strings, as the decoder makes them

    api = ListOnly()
    api.answer = [decoded("a", 1)]
    cache = WatchCache(api, "Pod")  # type: ignore[arg-type]
    cache.relist()
    cache._apply({"type": "ADDED", "object": decoded("b", 2)})
    a, b = cache.get("shop", "a"), cache.get("shop", "b")
    assert a is not None and b is not None
    assert a["metadata"]["namespace"] is b["metadata"]["namespace"]
    assert a["spec"]["nodeName"] is b["spec"]["nodeName"]
    assert a["spec"]["containers"][0]["image"] is b["spec"]["containers"][0]["image"]
    assert a["status"]["conditions"][0][1] is b["status"]["conditions"][0][1]
    assert a["status"] == {"phase": "Running", "conditions": [["Ready", "True"]]}
    assert (a["metadata"]["name"], b["metadata"]["resourceVersion"]) == ("a", "2")


@settings(max_examples=100, deadline=None)
@given(EVENTS, st.lists(st.booleans(), max_size=30))
def test_a_generation_changes_whenever_what_a_namespace_holds_does(
    events: list[Any], bookmarks: list[bool]
) -> None:
    # What a reader keeps of ``items(ns)`` is reused while ``generation(ns)`` is the one
    # read with it: any change to which objects ``items(ns)`` returns must change it.
    api = ListOnly()
    cache = WatchCache(api, "Pod")  # type: ignore[arg-type]
    scopes: list[str | None] = [*NAMESPACES, None]
    seen = {ns: (cache.generation(ns), cache.items(ns)) for ns in scopes}
    for version, (kind, namespace, name, listed) in enumerate(events, start=2):
        if kind == "RELIST":
            api.answer = [pod(ns, n, version) for ns, n in dict.fromkeys(listed)]
            cache.relist()
        else:
            cache._apply({"type": kind, "object": pod(namespace, name, version)})
        if version - 2 < len(bookmarks) and bookmarks[version - 2]:
            bookmark = {"metadata": {"resourceVersion": str(version)}}
            cache._apply({"type": "BOOKMARK", "object": bookmark})
        for ns in scopes:
            generation, items = cache.generation(ns), cache.items(ns)
            before, held = seen[ns]
            if [id(o) for o in items] != [id(o) for o in held]:
                assert generation != before, (kind, namespace, name, ns)
            seen[ns] = (generation, items)  # held: no object of it can take another's id


def test_a_bookmark_or_another_namespace_leaves_a_generation() -> None:
    cache = WatchCache(ListOnly(), "Pod")  # type: ignore[arg-type]
    cache._apply({"type": "ADDED", "object": pod("shop", "a", 2)})
    shop, everything = cache.generation("shop"), cache.generation()
    cache._apply({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "3"}}})
    cache._apply({"type": "DELETED", "object": pod("shop", "nobody", 4)})  # not held
    assert (cache.generation("shop"), cache.generation()) == (shop, everything)
    cache._apply({"type": "ADDED", "object": pod("infra", "b", 5)})
    assert cache.generation("shop") == shop and cache.generation() != everything
