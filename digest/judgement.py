"""Whose fault a failed delivery is: the server's or the recipient's, judged over a whole run.

Failures are judged as the server's before they are judged as a subscriber's. A refused
sender stops the run (`digest.deliver`); so does the same permanent refusal for
`refusal_streak` recipients in a row, or `circuit_breaker` failures to connect in a row: a
server problem, for which nobody is marked failed or bounced. A permanent refusal stays
provisional (the ledger keeps the row `deferred`) until the server accepts another message;
then it counts against its recipient, as `bounced` (5.1.x: no such address) or `failed`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from digest.store.ledger import Outcome
from digest.transport import Policy, Verdict

if TYPE_CHECKING:
    from digest.deliver import DeliveryReport

Suspect = tuple[Outcome, Verdict, str]  # the outcome if judged the recipient's, the refusal, the address


def not_judged(address: str, verdict: Verdict) -> str:
    return f"{address}: deferred: {verdict.detail} (refused; not yet judged the server's or the address's)"


class Judgement:
    """What the channels of one run learn together about the destination. Uses the run's lock
    (which also guards its report) and stops the run through `stop`."""

    def __init__(self, name: str, policy: Policy, report: DeliveryReport, lock: threading.Lock,
                 stop: Callable[[str], None]) -> None:
        self.name = name  # the destination, in messages
        self.policy = policy
        self.report = report
        self.lock = lock
        self.stop = stop
        self.connect_failures = 0  # in a row, over all channels
        self.suspects: list[Suspect] = []  # refusals since the last acceptance

    def connected(self) -> None:
        self.connect_failures = 0

    def unreachable(self, verdict: Verdict) -> bool:
        """Count a failure to connect; True (and the run stopped) when the breaker trips."""
        with self.lock:
            self.connect_failures += 1
            failures = self.connect_failures
        if failures < self.policy.circuit_breaker:
            return False
        self.stop(f"{self.name}: {failures} connection attempts in a row failed (last: "
                  f"{verdict.detail}); delivery stopped, nothing was marked failed: the next run "
                  "sends the rest")
        return True

    def refused(self, provisional: Outcome, verdict: Verdict, address: str) -> None:
        """Note a permanent refusal (recorded `deferred`); the same one for many recipients in
        a row is the server's."""
        with self.lock:
            self.suspects.append((provisional, verdict, address))
            self.report.deferred += 1
            self.report.problems.append(not_judged(address, verdict))
            streak = self.policy.refusal_streak
            tail = [v.signature for _, v, _ in self.suspects[-streak:]]
        if len(tail) == streak and len(set(tail)) == 1:
            self.stop(f"{self.name} refused {streak} recipients in a row the same way "
                      f"({verdict.detail}); delivery stopped as a server problem, nobody was marked "
                      "failed or bounced: fix the server and run again")

    def confirmed_by(self, done: Sequence[Outcome], taken: str) -> list[Suspect]:
        """The refusals that `done` shows to be their recipients' (the server took one of them:
        it works), to record with them; `judged` counts them once recorded."""
        if not (self.suspects and any(o.status == taken for o in done)):
            return []
        with self.lock:
            confirm, self.suspects = self.suspects, []
        return confirm

    def at_end(self, problem: str | None) -> list[Suspect]:
        """At the end: the refusals the streak never called the server's count against their
        recipients if the server accepted something in this run (so it works); else they stay
        deferred."""
        if not (self.suspects and self.report.sent and problem is None):
            return []
        confirm, self.suspects = self.suspects, []
        return confirm

    def judged(self, confirmed: Sequence[Suspect]) -> None:
        """Count refusals recorded as the recipients' (caller holds the lock, or is the last thread)."""
        report = self.report
        for _, verdict, address in confirmed:
            setattr(report, verdict.final, getattr(report, verdict.final) + 1)
            report.deferred -= 1
            report.problems.remove(not_judged(address, verdict))
            report.problems.append(f"{address}: {verdict.final}: {verdict.detail}")
