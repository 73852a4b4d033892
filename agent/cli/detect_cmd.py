"""`autonomic detect`: score a series from a CSV file for anomalies, online, point by point"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli._unbuilt import not_built


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "detect",
        help="score a series from a CSV file for anomalies, online, point by point",
        description="score a series from a CSV file for anomalies, online, point by point",
    )
    parser.set_defaults(handler=not_built(7, "'autonomic detect'"))
