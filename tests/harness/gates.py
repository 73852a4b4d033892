"""A leader gate a test hands over and takes back (``agent.runtime.LeaderGate``)."""

from __future__ import annotations


class SwitchGate:
    """Set ``leader`` to hand the lease over or take it back; ``lose_and_regain()``
    is a lease lost and won back between two looks, which only the term shows."""

    def __init__(self, leader: bool = False) -> None:
        self._leader = leader
        self._term = 1 if leader else 0

    @property
    def leader(self) -> bool:
        return self._leader

    @leader.setter
    def leader(self, value: bool) -> None:
        if value and not self._leader:
            self._term += 1
        self._leader = value

    def lose_and_regain(self) -> None:
        self._term += 1

    def is_leader(self) -> bool:
        return self._leader

    def term(self) -> int:
        return self._term

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


class RecordingGate:
    """A gate that is or is not the leader (term 1) and records that the runtime started
    and stopped it; stopping gives the lease up, as the real gate does."""

    def __init__(self, leader: bool) -> None:
        self.leader = leader
        self.started = self.stopped = False

    def is_leader(self) -> bool:
        return self.leader

    def term(self) -> int:
        return 1

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True
        self.leader = False
