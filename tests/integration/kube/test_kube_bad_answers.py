"""An answer from "the API server" that is not a JSON object: an HTML error page from a
proxy or load balancer in front of it (often with a 200), or a body cut short.

Through the real client against a small HTTP server on 127.0.0.1 that answers every
request with such a body: the read ends as a ``TransientError`` (``BadAnswer``) naming
the request, which ends the pass that made it, to be tried again; before, it was a
``ValueError`` (``json.JSONDecodeError``) that escaped as an unexpected error."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.adapters.kube_api import KubeApi
from agent.adapters.kubernetes import load_api_client
from agent.errors import TransientError

BODIES = {
    "html": (b"<html><body>502 Bad Gateway</body></html>", "text/html"),
    "cut-short": (b'{"kind": "Deployment", "metadata": {"na', "application/json"),
    "a-list": (b"[1, 2, 3]", "application/json"),
    "not-utf8": (b"\xff\xfe\x00garbage", "application/json"),
}


@pytest.fixture(params=sorted(BODIES))
def odd_server(request: pytest.FixtureRequest) -> Iterator[str]:
    body, content_type = BODIES[request.param]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_answer_that_is_not_a_json_object_is_a_transient_error_naming_the_request(
    odd_server: str,
) -> None:
    client = load_api_client(host=odd_server)
    try:
        api = KubeApi(client)
        with pytest.raises(TransientError) as caught:
            api.read("Deployment", "shop", "web")
    finally:
        client.close()
    assert caught.value.reason == "BadAnswer"
    message = str(caught.value)
    assert "get deployments 'web'" in message and "'shop'" in message
    assert "not JSON" in message or "not an object" in message
