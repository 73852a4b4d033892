"""A leader gate a test hands over and takes back (``agent.runtime.LeaderGate``)."""

from __future__ import annotations


class SwitchGate:
    def __init__(self, leader: bool = False) -> None:
        self.leader = leader

    def is_leader(self) -> bool:
        return self.leader

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None
