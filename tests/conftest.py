"""Shared fixtures: real PostgreSQL and Prometheus servers, started once per session.

Where a server's binary is missing the tests that need it are skipped with the reason,
except in CI (``CI`` set), where a missing server is a failure: ``.ci/run`` installs them.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.harness.servers import postgres_available, postgres_server

# In CI the property tests draw the same examples on every run (a failure there is
# reproducible, never a one-off draw), and no example is failed for being slow on a
# loaded machine. Elsewhere they explore afresh each run, under Hypothesis' defaults.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def _logger_state() -> dict[str, tuple[list[logging.Handler], int, bool]]:
    return {
        name: (list(logger.handlers), logger.level, logger.propagate)
        for name in ("autonomic", "agent")
        for logger in [logging.getLogger(name)]
    }


_PRISTINE_LOGGERS = _logger_state()


@pytest.fixture(autouse=True)
def _restore_loggers() -> Iterator[None]:
    """Code that configures the daemon's loggers (the CLI: a JSON handler, no
    propagation; a benchmark: a quieter level) changes them for the whole process; put
    them back as they were at start, so a later test's ``caplog`` sees their records."""
    yield
    for name, (handlers, level, propagate) in _PRISTINE_LOGGERS.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
    # ...and the root logger's handler for the libraries' warnings (the CLI adds one);
    # pytest's own handlers there, added and removed around each test, are left alone.
    root = logging.getLogger()
    for handler in root.handlers[:]:
        if type(handler).__name__ == "_LibraryHandler":
            root.removeHandler(handler)


@pytest.fixture(scope="session", autouse=True)
def _temporary_files_in_pytests_folder(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """Temporary folders the code keeps on purpose (``simulate`` leaves its daemon log
    and ledger for people to read) go under pytest's own base folder, for this process
    and the CLI subprocesses it starts, which pytest prunes, instead of piling up in
    /tmp with every run of the suite."""
    folder = tmp_path_factory.mktemp("tempfiles")
    before_env, before_module = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(folder), str(folder)
    yield
    tempfile.tempdir = before_module
    if before_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before_env


def _require(available: bool, what: str) -> None:
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed; .ci/run should have installed it")
    pytest.skip(f"{what} is not installed here (run .ci/run to install it)")


@pytest.fixture(scope="session")
def postgres_binaries() -> None:
    """For a test that starts PostgreSQL servers of its own (``postgres_cluster``)."""
    _require(postgres_available(), "PostgreSQL (Debian package postgresql)")


@pytest.fixture(scope="session")
def postgres_url(postgres_binaries: None) -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def prometheus_binaries() -> None:
    _require(
        shutil.which("prometheus") is not None and shutil.which("promtool") is not None,
        "Prometheus (Debian package prometheus)",
    )
