"""A scripted on-call: answers the daemon's questions by a policy, late or never sometimes.

The policy is per decision type (runbook name prefix): approve or reject, a typical
delay, and a chance of never answering. Answers go through the same path as a person's
(``DecisionService.answer``), so exactly-once and expiry apply to them too. With
``interactive`` the person at the terminal answers instead.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from agent.decisions import DecisionService
from agent.sim.scenario import OnCall

__all__ = ["ScriptedOnCall"]


@dataclass
class _Plan:
    at: float
    answer: str | None  # None: never answers


class ScriptedOnCall:
    def __init__(
        self,
        policy: OnCall,
        decisions: DecisionService,
        *,
        seed: int,
        ask_human: Callable[[str, str], str | None] | None = None,
        name: str = "oncall:sam",
    ) -> None:
        self.policy = policy
        self.decisions = decisions
        self.rng = random.Random(seed)
        self.ask_human = ask_human
        self.name = name
        self._plans: dict[str, _Plan] = {}
        self.answered = 0

    def step(self, now: float) -> None:
        ledger = self.decisions.ledger
        for question in ledger.questions():
            plan = self._plans.get(question.id)
            if plan is None:
                record = ledger.get_decision(question.decision_id)
                if record is None:
                    continue
                if self.ask_human is not None:
                    self.name = "terminal"
                    answer = self.ask_human(question.id, f"{record.subject}: {record.reason}")
                    self._plans[question.id] = _Plan(now, answer)
                else:
                    rule = self.policy.rule_for(record.decision_type)
                    never = rule.answer == "never" or self.rng.random() < rule.no_answer
                    delay = rule.delay * self.rng.uniform(0.5, 1.5)
                    answer = (
                        None if never else ("approved" if rule.answer == "approve" else "rejected")
                    )
                    self._plans[question.id] = _Plan(question.asked_at + delay, answer)
                plan = self._plans[question.id]
            if plan.answer is not None and now >= plan.at:
                if self.decisions.answer(question.id, plan.answer, self.name, "scripted on-call"):
                    self.answered += 1
                plan.answer = None
