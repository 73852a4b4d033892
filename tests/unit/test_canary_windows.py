"""config check: a canary count column counted over a window other than canary.period."""

from __future__ import annotations

from agent.settings import CanarySettings, Settings, advisories


def _notes(**canary: object) -> list[str]:
    settings = Settings.model_validate({"canary": canary})
    return [n for n in advisories(settings) if n.startswith("canary.") and "counts over" in n]


def test_the_default_queries_count_over_the_default_period() -> None:
    assert _notes() == []


def test_a_period_shorter_than_the_count_window_is_named_per_column() -> None:
    notes = _notes(period="30s")
    # errors and requests, in queries and in rolloutQueries; not the latency column
    assert len(notes) == 4
    assert any(n.startswith("canary.queries.errors counts over 60 s") for n in notes)
    assert any(n.startswith("canary.rolloutQueries.requests counts over 60 s") for n in notes)
    assert all("canary.period is 30 s" in n and "[30s]" in n for n in notes)
    assert not any("latency_p99" in n for n in notes)


def test_a_period_longer_than_the_count_window_is_named_and_a_matching_one_is_not() -> None:
    queries = dict(CanarySettings().queries)
    queries["errors"] = queries["errors"].replace("[1m]", "[5m]")
    queries["requests"] = queries["requests"].replace("[1m]", "[5m]")
    notes = _notes(period="5m", queries=queries)
    assert len(notes) == 2  # the rollout queries still count over 1m
    assert all(n.startswith("canary.rolloutQueries.") for n in notes)
    assert all("counts over 60 s" in n and "[5m]" in n for n in notes)


def test_a_latency_metrics_count_column_is_held_to_the_period_too() -> None:
    """Its requests are summed over the judged intervals towards the metric's minimum:
    counted over 1m with a 30 s period, each would count twice."""
    queries = {**CanarySettings().queries, "served": "sum(increase(req{d='$workload'}[1m]))"}
    rollout = {
        **CanarySettings().rollout_queries,
        "served": "sum(increase(req{p=~'$replicaset'}[30s]))",
    }
    spec = {"metrics": {"latency_p99": {"count": "served"}}}
    notes = _notes(period="30s", spec=spec, queries=queries, rolloutQueries=rollout)
    assert [n.split(" counts over")[0] for n in notes] == ["canary.queries.served"]


def test_a_spec_that_counts_no_requests_is_warned_of() -> None:
    """A latency-only spec has no idea how many requests are behind each value, so it can
    promote a canary on a handful; the default spec (latency and an error ratio) and a
    latency metric with a count column are not warned of."""

    def counting(settings: Settings) -> list[str]:
        return [n for n in advisories(settings) if "counts the canary's requests" in n]

    assert counting(Settings()) == []
    latency = {"kind": "continuous", "direction": "increase", "tolerance": "10%"}
    only_latency = Settings.model_validate(
        {"canary": {"spec": {"metrics": {"latency_p99": latency}}}}
    )
    (note,) = counting(only_latency)
    assert note.startswith("canary.spec: no metric counts the canary's requests (latency_p99:")
    queries = {**CanarySettings().queries, "served": "sum(increase(req{d='$workload'}[1m]))"}
    counted = Settings.model_validate(
        {
            "canary": {
                "spec": {"metrics": {"latency_p99": {**latency, "count": "served"}}},
                "queries": queries,
                "rolloutQueries": {
                    **CanarySettings().rollout_queries,
                    "served": "sum(increase(req{p=~'$replicaset'}[1m]))",
                },
            }
        }
    )
    assert counting(counted) == []


def test_a_spread_metric_without_a_count_column_is_warned_of() -> None:
    """Its judge cannot allow for a small canary's fewer requests per interval, which
    alone make its spread wider than its baseline's; with a count column it can."""

    def spread(settings: Settings) -> list[str]:
        return [n for n in advisories(settings) if "spread on" in n]

    assert spread(Settings()) == []
    latency = {"tolerance": "10%", "spread": True}
    uncounted = Settings.model_validate({"canary": {"spec": {"metrics": {"latency_p99": latency}}}})
    (note,) = spread(uncounted)
    assert note.startswith("canary.spec: metric latency_p99 has spread on but no count column")
    assert "`count: requests`" in note
    queries = {**CanarySettings().queries, "served": "sum(increase(req{d='$workload'}[1m]))"}
    rollout = {
        **CanarySettings().rollout_queries,
        "served": "sum(increase(req{p=~'$replicaset-.*'}[1m]))",
    }
    counted = Settings.model_validate(
        {
            "canary": {
                "spec": {"metrics": {"latency_p99": {**latency, "count": "served"}}},
                "queries": queries,
                "rolloutQueries": rollout,
            }
        }
    )
    assert spread(counted) == []
