"""`autonomic runbooks`: validate runbooks and write their JSON Schema"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli._unbuilt import not_built


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "runbooks",
        help="validate runbooks and write their JSON Schema",
        description="validate runbooks and write their JSON Schema",
    )
    parser.set_defaults(handler=not_built(4, "'autonomic runbooks'"))
