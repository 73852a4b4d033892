"""`autonomic judge`: judge a canary against its baseline from two CSV files"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli._unbuilt import not_built


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "judge",
        help="judge a canary against its baseline from two CSV files",
        description="judge a canary against its baseline from two CSV files",
    )
    parser.set_defaults(handler=not_built(8, "'autonomic judge'"))
