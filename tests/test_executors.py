"""The sweep's executors: what the one scheduler relies on (the Ray executor against the
local one on a real sweep: tests/test_sweep.py)."""

from __future__ import annotations

import pytest

from medlethe.sweep.executors import Local, SkippedError, first, timed


def test_local_runs_in_submission_order_and_skips_what_a_failure_feeds() -> None:
    ran: list[str] = []

    def step(name: str, *deps: object) -> str:
        ran.append(name)
        if name == "bad":
            raise ValueError("no data")
        return name.upper()

    ex = Local()
    a = ex.submit(step, "a")
    bad = ex.submit(step, "bad")
    b = ex.submit(step, "b", a)             # needs a
    c = ex.submit(step, "c", bad)           # needs the failed one: not run
    kept = ex.put("KEPT")
    d = ex.submit(step, "d", kept, b)
    pending = [a, bad, b, c, d]
    order = []
    while pending:
        h = ex.next_done(pending)
        pending.remove(h)
        order.append(h)
    assert order == [a, bad, b, c, d] and ran == ["a", "bad", "b", "d"]
    assert ex.result(d) == "D"
    with pytest.raises(ValueError, match="no data"):
        ex.result(bad)
    with pytest.raises(SkippedError, match="skipped"):
        ex.result(c)


def test_nothing_runs_before_it_is_asked_for() -> None:
    ran: list[int] = []
    ex = Local()
    handles = [ex.submit(ran.append, i) for i in range(3)]
    assert ran == []  # a killed sweep loses no finished job: each is taken, then written
    ex.next_done(handles)
    assert ran == [0]
    value, seconds = timed(sum, [1, 2])
    assert (value, first((value, seconds))) == (3, 3) and seconds >= 0
