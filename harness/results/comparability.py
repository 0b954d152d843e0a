"""What two runs of one scenario must share to be compared: the leaderboard ranks together
only runs whose :func:`comparability` is the same, and a sweep's summary records it per
scenario so that its fronts land beside runs on the same data."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from medlethe.results.schema import Results


def digest(value: Any) -> str:
    """A short digest of a JSON-able value."""
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:8]


def comparability(res: Results) -> dict[str, Any]:
    """The task versions, the data (the fingerprint of every split evaluated), the task
    arguments, the row ``limit`` and the base model of a run."""
    tasks = sorted(res.tasks.values(), key=lambda t: t.name)
    prov = res.model.provenance
    return {
        "task versions": [f"{t.name} v{t.version}" for t in tasks],
        "data": [f"{t.name}: {digest(sorted(t.data_fingerprints.items()))}" for t in tasks],
        "task arguments": prov.get("task_args") if "task_args" in prov else (
            tasks[0].args if tasks else {}),
        "limit": sorted({t.limit for t in tasks if t.limit is not None}) or None,
        "base model": str(prov.get("base_model") or res.model.name_or_path),
    }
