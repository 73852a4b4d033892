"""`autonomic replay`: replay a load trace against a simulated HPA, predictive or oracle scaler"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli._unbuilt import not_built


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "replay",
        help="replay a load trace against a simulated HPA, predictive or oracle scaler",
        description="replay a load trace against a simulated HPA, predictive or oracle scaler",
    )
    parser.set_defaults(handler=not_built(6, "'autonomic replay'"))
