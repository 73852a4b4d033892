"""Commands that are planned but not built yet say so plainly and exit non-zero."""

from __future__ import annotations

import argparse
import sys


def not_built(issue: int, what: str) -> object:
    def handler(args: argparse.Namespace) -> int:
        print(
            f"autonomic: {what} is not available in this release yet (tracked in issue #{issue}).",
            file=sys.stderr,
        )
        return 3

    return handler
