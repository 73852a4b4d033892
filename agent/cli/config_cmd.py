"""`autonomic config`: check a configuration file"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli._unbuilt import not_built


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "config", help="check a configuration file", description="check a configuration file"
    )
    parser.set_defaults(handler=not_built(2, "'autonomic config'"))
