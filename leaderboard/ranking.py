"""The leaderboard's declared ranking of one comparable group (RULE says it in words).

Unlearning aims at the oracle, the model that never saw the forget set: a run is ranked by
the distance of its forget score from the oracle's (forgetting too little and too much both
count), among the runs that keep their utility (the utility score at least 95 % of the
target's, or not below the oracle's interval); ties go to privacy (membership-inference AUC
nearer 0.5). A run whose distance interval overlaps the leader's shares the leader's rank,
and so on down. Runs whose target did not know the forget split (a failed precondition) are
never ranked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RULE = (
    "Ranked by the distance of the forget score from the oracle's (too little and too much "
    "forgetting both count), among runs whose utility (the plot's y) is at least 95 % of "
    "the target's or within the oracle's interval; ties by privacy (membership-inference "
    "AUC nearer 0.5). A run whose distance interval overlaps the leader's shares its rank. "
    "Runs on a split the target did not know are not ranked."
)
#: the share of the target's utility a ranked run keeps at least
KEEP = 0.95


@dataclass
class Ranked:
    """One unlearned run's place: its rank (``None``: not ranked, ``why``), distance from
    the oracle's forget score with its interval, utility as a share of the target's, and
    the privacy tie-breaker."""

    label: str
    page: str
    rank: int | None
    distance: float | None
    low: float | None
    high: float | None
    utility: float | None
    privacy: float | None
    why: str = ""


def _distance(cell: Mapping[str, Any], oracle: float) -> tuple[float, float, float]:
    """|forget - oracle| and its interval from the forget score's interval."""
    v = float(cell["value"])
    lo, hi = float(cell.get("low", v)), float(cell.get("high", v))
    d = abs(v - oracle)
    d_lo = 0.0 if lo <= oracle <= hi else min(abs(lo - oracle), abs(hi - oracle))
    return d, d_lo, max(abs(lo - oracle), abs(hi - oracle))


def rank(entries: Sequence[Any], x_key: str, y_key: str, privacy_key: str | None) -> list[
        Ranked]:
    """The ranking of a group's unlearned runs (``entries`` with ``cells`` filled), best
    first, then the runs not ranked with why."""
    role = {e.label: e.results.model.role for e in entries}
    oracle = next((e for e in entries if role[e.label] == "oracle"), None)
    target = next((e for e in entries if role[e.label] == "target"), None)
    out: list[Ranked] = []
    for e in entries:
        if role[e.label] != "unlearned":
            continue
        x, y = e.cells.get(x_key, {}), e.cells.get(y_key, {})
        why = ("no oracle in this group" if oracle is None or target is None
               else "the target did not know the forget split" if "unmet" in x
               else "no forget or utility score" if x.get("value") is None
               or y.get("value") is None else "")
        if why:
            out.append(Ranked(e.label, e.page, None, None, None, None, None, None, why))
            continue
        assert oracle is not None and target is not None
        d, lo, hi = _distance(x, float(oracle.cells[x_key]["value"]))
        base = target.cells[y_key].get("value")
        share = float(y["value"]) / float(base) if base else None
        p = e.cells.get(privacy_key or "", {}).get("value")
        floor = oracle.cells[y_key].get("low", oracle.cells[y_key].get("value"))
        kept = (share is not None and share >= KEEP) or (
            floor is not None and float(y["value"]) >= float(floor))
        out.append(Ranked(e.label, e.page, None, d, lo, hi, share,
                          abs(float(p) - 0.5) if p is not None else None,
                          "" if kept else f"utility below {KEEP:.0%} of the target's "
                          "and below the oracle's interval"))
    ranked = sorted((r for r in out if not r.why),
                    key=lambda r: (r.distance, r.privacy if r.privacy is not None else 1.0))
    place, leader = 0, None
    for i, r in enumerate(ranked):
        if leader is None or (r.low or 0.0) > (leader.high or 0.0):
            place, leader = i + 1, r  # a new rank: its interval clears the last leader's
        r.rank = place
    return ranked + [r for r in out if r.why]
