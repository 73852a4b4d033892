"""A local stand-in for Slack: the Web API over HTTP, and signed interaction requests.

    from tests.fakeslack import start_fake_slack, signed_interaction, block_actions_payload

    slack = start_fake_slack(token="xoxb-test", groups={"S0ONCALL": ["U0BOB"]})
    client = WebClient(token="xoxb-test", base_url=slack.url + "/api/")
    ...
    slack.fail_next("chat.postMessage", 429, retry_after=1)   # or 500
    slack.fail_next("chat.update", 200, error="message_not_found")  # Slack's ok:false
    slack.answer_late("chat.postMessage", 1.5)   # carried out, answered after a timeout
    slack.limit_posts(1.0)        # one chat.postMessage a second per channel, else 429
    slack.history_scope = False   # conversations.history: missing_scope
    slack.go_unreachable()                                   # connection refused
    slack.calls_to("chat.update")                             # what was called, in order
    sockets = slack.attach_socket_mode()      # Socket Mode: a websocket server on 127.0.0.1
    sockets.push_interactive(payload); sockets.wait_for_ack(envelope_id)
    slack.stop()

Faithful: method names and paths, the bearer token check, ``ok``/``error`` bodies with
HTTP 200 for API errors, 429 with ``Retry-After`` and an HTML 500, JSON and form
request bodies, ``chat.update`` only on existing messages, threads needing a parent,
the v0 request signature and the ``block_actions`` payload shape, message metadata and
``conversations.history`` (paged), one post a second per channel when asked
(``limit_posts``), ``msg_too_long`` for a ``text`` over 40,000 characters. Not
modelled: other pagination, per-method rate tiers, channel membership, message
formatting. Socket
Mode (``socket_mode.py``) is a real websocket server (RFC 6455 over plain TCP) handing
out single-use URLs through ``apps.connections.open``, sending ``hello``, delivering
``interactive`` envelopes, collecting acknowledgements, and asking clients to reconnect
(``disconnect``) or dropping them; its docstring lists what is not modelled.
"""

from __future__ import annotations

from tests.fakeslack.interactions import (
    InteractionServer,
    block_actions_payload,
    post,
    sign,
    signed_interaction,
)
from tests.fakeslack.server import Call, FakeSlack, Message, start_fake_slack
from tests.fakeslack.socket_mode import SocketConnection, SocketModeServer, websocket_accept

__all__ = [
    "Call",
    "FakeSlack",
    "InteractionServer",
    "Message",
    "SocketConnection",
    "SocketModeServer",
    "block_actions_payload",
    "post",
    "sign",
    "signed_interaction",
    "start_fake_slack",
    "websocket_accept",
]
