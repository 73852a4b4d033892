"""Properties of the patch code the rollback and the fake server rely on."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.adapters.kube_ops import merge_diff
from tests.fakekube.patches import json_patch, merge_patch, strategic_merge_patch

keys = st.sampled_from(["a", "b", "c", "name", "image", "labels"])
scalars = st.one_of(st.integers(-3, 3), st.text(max_size=3), st.booleans())
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
objects = st.dictionaries(keys, documents, max_size=4)


@settings(max_examples=200, deadline=None)
@given(objects, objects)
def test_merge_diff_then_merge_patch_reproduces_the_target(old: Any, new: Any) -> None:
    """Rollback sends merge_diff(current, target); the server must end at target."""
    assert merge_patch(old, merge_diff(old, new)) == new


@settings(max_examples=100, deadline=None)
@given(objects)
def test_json_patch_replace_root_fields(doc: Any) -> None:
    ops = [{"op": "replace", "path": f"/{key}", "value": 1} for key in doc]
    assert json_patch(doc, ops) == dict.fromkeys(doc, 1)


def test_strategic_merge_deletes_and_adds_containers_by_name() -> None:
    current = {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}
    patch = {"containers": [{"name": "b", "$patch": "delete"}, {"name": "c", "image": "3"}]}
    assert strategic_merge_patch(current, patch) == {
        "containers": [{"name": "a", "image": "1"}, {"name": "c", "image": "3"}]
    }
