"""Start real Prometheus and PostgreSQL servers on 127.0.0.1 for tests.

Both come from Debian's packages (``.ci/run`` installs them). PostgreSQL refuses to
run as root, so when the tests run as root (as CI does) the server runs as the
``postgres`` system user that the package creates.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

# Read at import, before the tests' fixture points temporary files at pytest's folder.
_SYSTEM_TMP = tempfile.gettempdir()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, timeout: float, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready at {url} after {timeout} s")


def openmetrics(
    series: Iterable[tuple[str, Mapping[str, str], Iterable[tuple[float, float]]]],
) -> str:
    """OpenMetrics text for promtool backfill: timestamps in seconds, ends with ``# EOF``."""
    lines: list[str] = []
    by_name: dict[str, list[str]] = {}
    for name, labels, samples in series:
        rendered = ",".join(f'{k}="{_om_escaped(v)}"' for k, v in sorted(labels.items()))
        selector = f"{name}{{{rendered}}}" if rendered else name
        for when, value in samples:
            by_name.setdefault(name, []).append(f"{selector} {_om_value(value)} {when:.3f}")
    for name, rendered_samples in by_name.items():
        lines.append(f"# TYPE {name} gauge")
        lines.extend(rendered_samples)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _om_escaped(value: str) -> str:
    """A label value as OpenMetrics writes it inside its quotes."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _om_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    config: Path
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def start(self) -> None:
        """(Re)start on the same port and data directory."""
        self.process = _launch_prometheus(self.config, self.data_dir, self.port, self.log)
        _wait_http(f"{self.url}/-/ready", 60, self.process, self.log)


def _launch_prometheus(config: Path, data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("prometheus")
    assert binary is not None
    handle = log.open("ab")
    return subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            "--storage.tsdb.retention.time=3650d",
            "--query.lookback-delta=5m",
        ],
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


@contextlib.contextmanager
def prometheus_server(backfill: str) -> Iterator[PrometheusServer]:
    """Backfill ``backfill`` (OpenMetrics text) with promtool, then start Prometheus."""
    root = Path(tempfile.mkdtemp(prefix="autonomic-prom-"))
    data = root / "data"
    data.mkdir()
    source = root / "backfill.om"
    source.write_text(backfill)
    promtool = shutil.which("promtool")
    assert promtool is not None
    done = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"promtool backfill failed:\n{done.stdout}\n{done.stderr}")
    config = root / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    port = free_port()
    log = root / "prometheus.log"
    process = _launch_prometheus(config, data, port, log)
    server = PrometheusServer(f"http://127.0.0.1:{port}", process, data, port, config, log)
    try:
        _wait_http(f"{server.url}/-/ready", 60, process, log)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(name)
    return path


def postgres_available() -> bool:
    try:
        _pg_bin("postgres")
    except FileNotFoundError:
        return False
    return True


@dataclass
class PostgresServer:
    """A PostgreSQL cluster on 127.0.0.1:``port``, made with ``initdb`` (trust for every
    user, unless ``pg_hba.conf`` is given lines before that), started and stopped at will
    on the same port and data; ``url`` names database ``autonomic`` as user ``autonomic``."""

    root: Path
    port: int
    prefix: list[str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://autonomic@127.0.0.1:{self.port}/autonomic"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def start(self) -> None:
        """Start, and return once the server accepts connections."""
        self.process = subprocess.Popen(
            [
                *self.prefix,
                _pg_bin("postgres"),
                "-D",
                str(self.root / "data"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "fsync=off",
                "-c",
                "max_connections=100",
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"postgres did not start:\n{self.log.read_text(errors='replace')}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        """A fast shutdown, and return once the server has exited. Through ``pg_ctl``:
        ``runuser`` (the server's parent, as root) does not pass a signal on, so one sent
        to it left the server running, orphaned, after the test."""
        if self.process is None or self.process.poll() is not None:
            return
        subprocess.run(
            [*self.prefix, _pg_bin("pg_ctl"), "stop", "-D", str(self.root / "data"), "-m", "fast"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def createdb(self, name: str = "autonomic") -> None:
        subprocess.run(
            [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "autonomic", name],
            check=True,
            capture_output=True,
        )


@contextlib.contextmanager
def postgres_cluster(hba: Iterable[str] = ()) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster, made but not started; removed afterwards.
    ``hba``: ``pg_hba.conf`` lines matched before the cluster's own (trust for all)."""
    as_root = os.geteuid() == 0
    # Run as root, the server runs as ``postgres``, which must reach its folder: in the
    # system's temporary folder, never under pytest's (its base folder is private).
    root = Path(tempfile.mkdtemp(prefix="autonomic-pg-", dir=_SYSTEM_TMP if as_root else None))
    data = root / "data"
    prefix: list[str] = []
    if as_root:
        shutil.chown(root, user="postgres")
        os.chmod(root, 0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *prefix,
            _pg_bin("initdb"),
            "-D",
            str(data),
            "-U",
            "autonomic",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    lines = list(hba)
    if lines:
        conf = data / "pg_hba.conf"
        conf.write_text("\n".join(lines) + "\n" + conf.read_text())
    server = PostgresServer(root, free_port(), prefix)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster, started; yields a SQLAlchemy URL to database
    ``autonomic``."""
    with postgres_cluster() as server:
        server.start()
        server.createdb()
        yield server.url


def fresh_schema(base: str) -> tuple[str, str]:
    """A new, empty schema on the PostgreSQL server at ``base``: a URL whose search path
    is that schema, and its name. Tests that each take one stay independent on one server."""
    import uuid

    import sqlalchemy as sa

    schema = f"t{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return f"{base}?options=-csearch_path%3D{schema}", schema
