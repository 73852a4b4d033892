"""Paths and files a kubeconfig names, read as kubectl reads them, whatever the working folder.

kubectl resolves ``certificate-authority``, ``client-certificate``, ``client-key``,
``tokenFile`` and an exec plugin's ``command`` from the kubeconfig's own folder, and sends
a ``tokenFile``'s token without the newline that ends the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.adapters.kubernetes import load_api_client
from tests.fakekube import FakeApiServer

PLUGIN = """#!/bin/sh
echo '{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
  "status": {"token": "from-plugin"}}'
"""


def write_kubeconfig(folder: Path, server: str, user: str) -> Path:
    kubeconfig = folder / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: k\n  cluster: {{server: '{server}', "
        "certificate-authority: certs/ca.crt}\n"
        "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
        f"users:\n- name: u\n  user: {user}\n"
    )
    return kubeconfig


@pytest.mark.parametrize("named_by", ["cluster.kubeconfig", "$KUBECONFIG"])
def test_relative_paths_in_a_kubeconfig_are_read_from_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, named_by: str
) -> None:
    from kubernetes.config import kube_config

    folder = tmp_path / "clusters" / "prod"
    (folder / "certs").mkdir(parents=True)
    (folder / "bin").mkdir()
    for name in ("ca.crt", "client.crt", "client.key"):
        (folder / "certs" / name).write_text("not read until a connection is made\n")
    plugin = folder / "bin" / "plugin"
    plugin.write_text(PLUGIN)
    plugin.chmod(0o755)
    write_kubeconfig(
        folder,
        "https://127.0.0.1:6443",
        "{client-certificate: certs/client.crt, client-key: certs/client.key, "
        "exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./bin/plugin}}",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    relative = "../clusters/prod/config"  # the daemon started from another folder
    if named_by == "$KUBECONFIG":
        monkeypatch.setenv("KUBECONFIG", relative)
        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", relative)
        configuration = load_api_client().configuration
    else:
        configuration = load_api_client(kubeconfig=relative).configuration
    assert configuration.ssl_ca_cert == str(folder / "certs" / "ca.crt")
    assert configuration.cert_file == str(folder / "certs" / "client.crt")
    assert configuration.key_file == str(folder / "certs" / "client.key")
    assert configuration.get_api_key_with_prefix("BearerToken") == "Bearer from-plugin"


def test_a_token_file_ending_in_a_newline_is_sent_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeApiServer
) -> None:
    """Before, every request failed in http.client: ``Invalid header value b'Bearer ...\\n'``."""
    from kubernetes import client

    folder = tmp_path / "prod"
    (folder / "certs").mkdir(parents=True)
    (folder / "certs" / "token").write_text("token-123\n")  # as `kubectl create token >` writes
    write_kubeconfig(folder, fake.url, "{tokenFile: certs/token}")
    monkeypatch.chdir(tmp_path)
    api_client = load_api_client(kubeconfig="prod/config")
    try:
        assert client.VersionApi(api_client).get_code().git_version.endswith("-autonomic-fake")
        # twice: the client sets the token again before each request
        assert client.VersionApi(api_client).get_code().major == "1"
        assert api_client.configuration.get_api_key_with_prefix("BearerToken") == (
            "Bearer token-123"
        )
    finally:
        api_client.close()
