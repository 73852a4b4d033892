"""`autonomic simulate`: simulate the whole loop on a replayed real trace; write a report"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli._unbuilt import not_built


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "simulate",
        help="simulate the whole loop on a replayed real trace; write a report",
        description="simulate the whole loop on a replayed real trace; write a report",
    )
    parser.set_defaults(handler=not_built(9, "'autonomic simulate'"))
