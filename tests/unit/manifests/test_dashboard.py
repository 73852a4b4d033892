"""The Grafana dashboard is well-formed and asks only for metrics the daemon exports.

Metric names and labels are a contract between ``agent/observability.py``, the
dashboard and docs/deploy.md; this checks all three against the daemon's own registry.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase

from agent.observability import Metrics, OptionalGauge
from tests.unit.manifests.conftest import BASE, REPO

DASHBOARD = BASE / "grafana" / "autonomic-dashboard.json"
# Labels Prometheus adds when scraping, and the histogram bucket label.
TARGET_LABELS = frozenset({"job", "instance", "pod", "namespace", "le"})
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _exported() -> dict[str, tuple[str, frozenset[str]]]:
    """Family name -> (type, label names), from a fresh ``Metrics`` registry."""
    metrics = Metrics()
    families: dict[str, tuple[str, frozenset[str]]] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            family = next(iter(value.collect()))
            families[family.name] = (family.type, frozenset(value._labelnames))
        elif isinstance(value, OptionalGauge):  # no labels; absent until set
            family = value.collect()[0]
            families[family.name] = (family.type, frozenset())
    return families


def _series_names() -> dict[str, str]:
    """Every series name a query may use -> its family."""
    names = {}
    for family, (kind, _) in _exported().items():
        for suffix in SUFFIXES[kind]:
            names[family + suffix] = family
    return names


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _targets() -> list[tuple[str, dict[str, Any]]]:
    return [(p["title"], t) for p in _panels() for t in p["targets"]]


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = _dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not mine & cells, f"panel {panel['title']!r} overlaps another"
        cells |= mine


def _under_rows() -> dict[str, list[dict[str, Any]]]:
    """Row title -> the panels Grafana shows under it (rows expanded: by position)."""
    panels = sorted(_dashboard()["panels"], key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    rows: dict[str, list[dict[str, Any]]] = {}
    current = ""
    for panel in panels:
        if panel["type"] == "row":
            current = panel["title"]
            rows[current] = []
        else:
            rows.setdefault(current, []).append(panel)
    return rows


def test_the_predictive_scaling_row_shows_only_scaling_metrics() -> None:
    """docs/deploy.md names what each row shows; a panel appended at the bottom lands under
    the last row (the alert panels once sat under "Predictive scaling")."""
    for panel in _under_rows()["Predictive scaling"]:
        for target in panel["targets"]:
            used = set(re.findall(r"\bautonomic_[a-z_]+\b", target["expr"]))
            used.discard("autonomic_leader")  # the leader-only filter
            assert used and all(n.startswith("autonomic_scaling_") for n in used), panel["title"]


def test_docs_name_the_dashboard_rows_in_order() -> None:
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = text.split("## Grafana dashboard", 1)[1].split("\n## ", 1)[0]
    rows = [title.lower() for title in _under_rows() if title]
    places = [section.find(f"{title} (") for title in rows]
    assert -1 not in places, dict(zip(rows, places, strict=True))
    assert places == sorted(places), "docs/deploy.md lists the rows in another order"
    count = ["one", "two", "three", "four", "five", "six", "seven", "eight"][len(rows) - 1]
    assert f"has {count} rows" in section


def test_every_query_uses_the_datasource_variable() -> None:
    names = {v["name"] for v in _dashboard()["templating"]["list"]}
    assert {"datasource", "job"} <= names
    for panel in _panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert 'job=~"$job"' in target["expr"], f"{panel['title']}: filter by $job"


def _process_metrics() -> set[str]:
    """The prometheus-client process metrics on the daemon's registry (from /proc)."""
    return {
        sample.name
        for family in Metrics().registry.collect()
        if family.name.startswith("process_")
        for sample in family.samples
    }


def test_queries_use_only_exported_metrics_and_their_labels() -> None:
    series, families = _series_names(), _exported()
    process = _process_metrics()
    assert "process_resident_memory_bytes" in process
    for title, target in _targets():
        expr = target["expr"]
        used = set(re.findall(r"\bautonomic_[a-z_]+\b", expr))
        from_process = set(re.findall(r"\bprocess_[a-z_]+\b", expr))
        assert used or from_process, f"{title}: no Autonomic metric in {expr}"
        unknown = (used - set(series)) | (from_process - process)
        assert not unknown, f"{title}: not exported by agent/observability.py: {unknown}"
        allowed = TARGET_LABELS.union(*(families[series[name]][1] for name in used))
        labels = set(re.findall(r"([a-z_]+)\s*(?:=~|!~|!=|=)\s*\"", expr))
        for group in re.findall(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)", expr):
            labels |= {label.strip() for label in group.split(",") if label.strip()}
        assert labels <= allowed, f"{title}: labels {labels - allowed} not on {used}"
        legend = set(re.findall(r"\{\{\s*([a-z_]+)\s*\}\}", target.get("legendFormat", "")))
        assert legend <= labels, f"{title}: legend uses {legend - labels}, dropped by the query"


def test_the_dashboard_shows_every_exported_metric() -> None:
    expressions = " ".join(t["expr"] for _, t in _targets())
    series = _series_names()
    shown = {series[n] for n in re.findall(r"\bautonomic_[a-z_]+\b", expressions) if n in series}
    assert shown == set(_exported())


def _documented() -> dict[str, tuple[str, frozenset[str]]]:
    """The metric contract table of docs/deploy.md: | `name` | type | `labels` | meaning |."""
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|\s*`(autonomic_[a-z_]+)`\s*\|\s*(\w+)\s*\|([^|]*)\|", text, re.M)
    return {
        name: (kind, frozenset(re.findall(r"`([a-z_]+)`", labels))) for name, kind, labels in rows
    }


def test_docs_contract_matches_the_exported_metrics() -> None:
    documented, families = _documented(), _exported()
    exposed = {}
    for family, (kind, labels) in families.items():
        name = family + ("_total" if kind == "counter" else "")
        exposed[name] = (kind, labels)
    assert documented == exposed


@pytest.mark.parametrize(
    "name",
    [
        "autonomic_loop_duration_seconds",
        "autonomic_decisions_total",
        "autonomic_errors_total",
        "autonomic_leader",
        "autonomic_calibration_error",
    ],
)
def test_the_issue_named_metrics_are_in_the_contract(name: str) -> None:
    assert name in _documented()


def test_every_metric_name_in_the_docs_and_manifests_is_exported() -> None:
    """Beyond the contract table: a query in prose (``sum by (reason)
    (rate(autonomic_prometheus_request_failures_total[5m]))``), an alert's description,
    an example, must name series the daemon exports. Not metrics: the Slack metadata
    event type and block id ``autonomic_question``."""
    not_metrics = {"autonomic_question"}
    names = set(_series_names()) | set(_exported()) | not_metrics
    files = [
        *(REPO / "docs").rglob("*.md"),
        *(REPO / "docs").rglob("*.yaml"),
        REPO / "README.md",
        *(REPO / "runbooks").glob("*.md"),
        *BASE.rglob("*.yaml"),
        DASHBOARD,
    ]
    unknown = {
        (path.relative_to(REPO).as_posix(), name)
        for path in files
        for name in set(re.findall(r"\bautonomic_[a-z0-9_]+", path.read_text(encoding="utf-8")))
        if name not in names
    }
    assert unknown == set()
