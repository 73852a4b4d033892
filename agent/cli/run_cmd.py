"""`autonomic run`: run the daemon: observe, decide, act or ask, verify, learn"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli._unbuilt import not_built


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "run",
        help="run the daemon: observe, decide, act or ask, verify, learn",
        description="run the daemon: observe, decide, act or ask, verify, learn",
    )
    parser.set_defaults(handler=not_built(3, "'autonomic run'"))
