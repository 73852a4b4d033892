"""What in the loaded runbooks a configuration can never let happen.

Shared by ``autonomic config check`` (printed as warnings) and the daemon's start-up (logged
as warnings), so a runbook that will never act is said where the daemon runs too."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.settings import Settings
    from remediation.schema import Runbook

__all__ = ["runbook_fit"]


def runbook_fit(settings: Settings, sources: list[tuple[str, Runbook]]) -> list[str]:
    """What in the runbooks this configuration can never let happen, one line each with
    the runbook's file and line: a target namespace the daemon does not watch
    (``cluster.namespaces``, ``cluster.excludeNamespaces``), and an ``anomaly`` trigger
    on a metric no ``anomalyQueries`` entry is named. Warnings, not errors: a runbook
    folder may be shared by daemons that watch different namespaces and queries."""
    import difflib

    from remediation.loading import locate

    cluster = settings.cluster
    queries = [query.name for query in settings.anomaly_queries]
    texts: dict[str, str] = {}
    found: list[str] = []

    def where(file: str, runbook: Runbook, loc: tuple[str | int, ...]) -> str:
        if file not in texts:
            try:
                texts[file] = Path(file).read_text(encoding="utf-8")
            except OSError:
                texts[file] = ""
        line = locate(texts[file], runbook.metadata.name, loc)
        return f"{file}:{line}" if line is not None else file

    for file, runbook in sources:
        name = runbook.metadata.name
        target = runbook.spec.target
        unread: list[str] = []
        for index, namespace in enumerate(target.namespaces):
            if namespace in cluster.exclude_namespaces:
                why = "cluster.excludeNamespaces leaves it out"
            elif cluster.namespaces and namespace not in cluster.namespaces:
                why = f"cluster.namespaces watches only {', '.join(cluster.namespaces)}"
            else:
                continue
            unread.append(namespace)
            at = where(file, runbook, ("spec", "target", "namespaces", index))
            found.append(
                f"{at}: spec.target.namespaces[{index}]: runbook {name} will never act in "
                f"namespace {namespace}: {why}, so the daemon never reads it; add it to "
                "the config or remove it from the runbook"
            )
        if target.namespaces and len(set(unread)) == len(set(target.namespaces)):
            found.append(
                f"{where(file, runbook, ('spec', 'target', 'namespaces'))}: "
                f"spec.target.namespaces: runbook {name} will never act at all: none of "
                "its namespaces is watched by this config"
            )
        for index, trigger in enumerate(runbook.spec.triggers):
            if trigger.type != "anomaly" or trigger.metric in queries:
                continue
            at = where(file, runbook, ("spec", "triggers", index, "metric"))
            if queries:
                near = difflib.get_close_matches(trigger.metric, queries, n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                names = f"{hint}the anomaly queries are {', '.join(queries)}"
            else:
                names = "this config has no anomalyQueries"
            found.append(
                f"{at}: spec.triggers[{index}].metric: no anomaly query is named "
                f"{trigger.metric!r}, so this trigger never fires ({names}; an anomaly "
                "signal's metric is the name of the anomalyQueries entry that found it)"
            )
    return found
