"""`autonomic forecast`: forecast a series from a CSV file, with prediction intervals"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli._unbuilt import not_built


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "forecast",
        help="forecast a series from a CSV file, with prediction intervals",
        description="forecast a series from a CSV file, with prediction intervals",
    )
    parser.set_defaults(handler=not_built(6, "'autonomic forecast'"))
