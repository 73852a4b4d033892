"""`autonomic explain`: tell the whole story of one decision, from signal to outcome"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli._unbuilt import not_built


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "explain",
        help="tell the whole story of one decision, from signal to outcome",
        description="tell the whole story of one decision, from signal to outcome",
    )
    parser.set_defaults(handler=not_built(5, "'autonomic explain'"))
