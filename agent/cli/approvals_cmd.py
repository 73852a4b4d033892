"""`autonomic approvals`: list pending approvals; approve or reject one"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli._unbuilt import not_built


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "approvals",
        help="list pending approvals; approve or reject one",
        description="list pending approvals; approve or reject one",
    )
    parser.set_defaults(handler=not_built(4, "'autonomic approvals'"))
