"""A worker's claim on a run moves only along its named transitions, against both databases.

Each state is reached by the writes that lead to it (a claim, a deciding write
that commits, rolls back or finds the run taken); every other transition from
it is refused with ``ImpossibleTransition`` and leaves the state as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select

from jobruntime.core.clock import utcnow
from jobruntime.core.errors import JobRuntimeError
from jobruntime.models import JobResult
from jobruntime.run.claim import ClaimState, ImpossibleTransition, LeaseLost, RunClaim
from jobruntime.run.claim_statements import Claim, claim_run
from jobruntime.store.prebuilt import transaction


class _RolledBack(Exception):
    """Raised inside a deciding write's transaction to roll it back."""


def _run_claim(engine, claimed: list[Claim] | None = None) -> RunClaim:
    values = {"id": uuid.uuid4(), "name": "local/basic/PassingJob", "task_queue": "default", "request": None}
    return RunClaim(engine, values, worker="w1", lease_seconds=30, events=[],
                    on_claimed=(claimed if claimed is not None else []).append)


def _status(engine, claim: RunClaim) -> str | None:
    with engine.connect() as connection:
        return connection.execute(select(JobResult.status).where(JobResult.id == claim.job_result_id)).scalar()


def _decide(engine, claim: RunClaim, *, running: bool = False, commit: bool = True) -> None:
    """Start deciding and make the deciding write, whose transaction then commits or rolls back."""
    assert claim.start_deciding() is True
    outcome = {"status": "running", "verdict": "completed"} if running else {"status": "completed",
                                                                             "completed": utcnow()}
    try:
        with transaction(engine) as db:
            claim.write_decision(db, {**claim.snapshot(), **outcome}, running=running, event=None)
            if not commit:
                raise _RolledBack()
    except _RolledBack:
        claim.decision_rolled_back()
        return
    claim.decision_committed()


def _unclaimed(engine) -> RunClaim:
    return _run_claim(engine)


def _claimed(engine) -> RunClaim:
    claim = _run_claim(engine)
    claim.ensure()
    return claim


def _deciding(engine) -> RunClaim:
    claim = _run_claim(engine)
    claim.start_deciding()
    return claim


def _decided(engine) -> RunClaim:
    claim = _run_claim(engine)
    _decide(engine, claim)
    return claim


def _lost(engine) -> RunClaim:
    claim = _run_claim(engine)
    claim_run(engine, claim.values, worker="w2", lease_seconds=30)  # another delivery of the same run
    with pytest.raises(LeaseLost):
        claim.ensure()
    return claim


STATES: dict[ClaimState, Callable] = {
    ClaimState.UNCLAIMED: _unclaimed, ClaimState.CLAIMED: _claimed, ClaimState.DECIDING: _deciding,
    ClaimState.DECIDED: _decided, ClaimState.LOST: _lost,
}


def test_a_run_starts_unclaimed_with_no_attempt_to_renew(engine):
    claim = _run_claim(engine)
    assert (claim.state, claim.claimed, claim.attempt) == (ClaimState.UNCLAIMED, None, 0)
    assert _status(engine, claim) is None


def test_ensure_claims_an_unclaimed_run_once_and_tells_its_listeners(engine):
    told: list[Claim] = []
    claim = _run_claim(engine, told)

    first = claim.ensure()
    again = claim.ensure()

    assert (claim.state, claim.attempt, _status(engine, claim)) == (ClaimState.CLAIMED, 1, "running")
    assert first is again is claim.claimed
    assert told == [first]


def test_a_late_claim_finding_the_run_taken_loses_it_and_says_so_each_time(engine):
    reasons: list[str] = []
    claim = _run_claim(engine)
    claim.on_lost = reasons.append
    claim_run(engine, claim.values, worker="w2", lease_seconds=30)

    for _ in range(2):
        with pytest.raises(LeaseLost, match="no longer this delivery's"):
            claim.ensure()

    assert (claim.state, claim.claimed, len(reasons)) == (ClaimState.LOST, None, 2)


def test_a_committed_deciding_write_decides_the_run_and_no_claim_follows(engine):
    told: list[Claim] = []
    claim = _run_claim(engine, told)

    _decide(engine, claim)

    assert (claim.state, claim.claimed, _status(engine, claim)) == (ClaimState.DECIDED, None, "completed")
    assert claim.ensure() is None
    assert told == []


def test_a_deciding_write_that_leaves_the_row_running_claims_the_run_once_committed(engine):
    """post_run() is still to run: the row the deciding write left running is this attempt's."""
    told: list[Claim] = []
    claim = _run_claim(engine, told)

    _decide(engine, claim, running=True)

    assert (claim.state, claim.attempt, _status(engine, claim)) == (ClaimState.CLAIMED, 1, "running")
    assert told == [claim.claimed]
    assert claim.start_deciding() is False  # its next write updates the row it owns


def test_a_rolled_back_deciding_write_leaves_the_run_unclaimed_and_claimable(engine):
    claim = _run_claim(engine)

    _decide(engine, claim, commit=False)

    assert (claim.state, _status(engine, claim)) == (ClaimState.UNCLAIMED, None)
    assert claim.ensure() is not None
    assert claim.state is ClaimState.CLAIMED


def test_a_deciding_write_finding_the_run_taken_loses_it(engine):
    claim = _run_claim(engine)
    claim_run(engine, claim.values, worker="w2", lease_seconds=30)

    with pytest.raises(LeaseLost):
        _decide(engine, claim)

    assert claim.state is ClaimState.LOST
    with pytest.raises(LeaseLost):
        claim.start_deciding()


def test_a_claimed_run_can_be_lost(engine):
    claim = _claimed(engine)
    claim.lose()
    assert (claim.state, claim.claimed, claim.attempt) == (ClaimState.LOST, None, 0)


def test_ensure_waits_for_a_deciding_write_instead_of_claiming(engine):
    claim = _deciding(engine)
    assert claim.ensure() is None
    assert (claim.state, _status(engine, claim)) == (ClaimState.DECIDING, None)


REFUSED = [
    (ClaimState.DECIDING, "start_deciding"),
    (ClaimState.DECIDED, "start_deciding"),
    (ClaimState.UNCLAIMED, "decision_committed"),
    (ClaimState.CLAIMED, "decision_committed"),
    (ClaimState.DECIDED, "decision_committed"),
    (ClaimState.LOST, "decision_committed"),
    (ClaimState.UNCLAIMED, "decision_rolled_back"),
    (ClaimState.CLAIMED, "decision_rolled_back"),
    (ClaimState.DECIDED, "decision_rolled_back"),
    (ClaimState.LOST, "decision_rolled_back"),
    (ClaimState.UNCLAIMED, "write_decision"),
    (ClaimState.CLAIMED, "write_decision"),
    (ClaimState.DECIDED, "write_decision"),
    (ClaimState.DECIDED, "lose"),
    (ClaimState.LOST, "lose"),
]


@pytest.mark.parametrize(("state", "transition"), REFUSED, ids=[f"{s.value}-{t}" for s, t in REFUSED])
def test_an_impossible_transition_is_refused_and_changes_nothing(engine, state, transition):
    claim = STATES[state](engine)
    assert claim.state is state
    status = _status(engine, claim)

    with pytest.raises(ImpossibleTransition, match=f"while it is {state.value}") as refused:
        if transition == "write_decision":
            with transaction(engine) as db:
                claim.write_decision(db, claim.snapshot(), running=False, event=None)
        else:
            getattr(claim, transition)()

    assert isinstance(refused.value, JobRuntimeError)
    assert claim.state is state
    assert _status(engine, claim) == status
