"""A local stand-in for Slack: the Web API over HTTP, and signed interaction requests.

    from tests.fakeslack import start_fake_slack, signed_interaction, block_actions_payload

    slack = start_fake_slack(token="xoxb-test", groups={"S0ONCALL": ["U0BOB"]})
    client = WebClient(token="xoxb-test", base_url=slack.url + "/api/")
    ...
    slack.fail_next("chat.postMessage", 429, retry_after=1)   # or 500
    slack.go_unreachable()                                   # connection refused
    slack.calls_to("chat.update")                             # what was called, in order
    slack.stop()

Faithful: method names and paths, the bearer token check, ``ok``/``error`` bodies with
HTTP 200 for API errors, 429 with ``Retry-After`` and an HTML 500, JSON and form
request bodies, ``chat.update`` only on existing messages, threads needing a parent,
the v0 request signature and the ``block_actions`` payload shape. Not modelled:
pagination, per-method rate tiers, channel membership, message formatting, Socket
Mode websockets (no Slack websocket server exists here; Socket Mode is tested by
handing the listener a constructed ``SocketModeRequest``).
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

__all__ = [
    "Call",
    "FakeSlack",
    "InteractionServer",
    "Message",
    "block_actions_payload",
    "post",
    "sign",
    "signed_interaction",
    "start_fake_slack",
]
