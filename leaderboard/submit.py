"""``medlethe leaderboard submit RESULTS... --name NAME``: validate results (files, run
folders or a sweep's folder) and write them as one submission folder, ready for a pull
request. Only what the leaderboard reads is copied: ``results_*.json`` and a sweep's
``sweep_summary.json``, never per-sample values or logs."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from medlethe.leaderboard.validate import (
    SWEEP_FILE,
    Known,
    Submission,
    SubmissionError,
    validate_submission,
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,80}$")
#: where submissions live in a checkout of medlethe
SUBMISSIONS = Path("leaderboard") / "submissions"


def _collect(inputs: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(item.rglob("results_*.json")) + sorted(item.rglob(SWEEP_FILE))
            if not found:
                raise SubmissionError(f"{item}: no results_*.json or {SWEEP_FILE} in it.")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise SubmissionError(f"{item} does not exist.")
    names = [f.name for f in files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SubmissionError(
            f"{', '.join(twice)} given twice (one run, one file); submit each run once, or "
            "one sweep per submission."
        )
    return files


def submit(
    inputs: Sequence[str | Path],
    name: str,
    *,
    into: str | Path = SUBMISSIONS,
    known: Known | None = None,
) -> Submission:
    """Validate ``inputs`` as one submission and write it to ``into/name``; nothing is
    written when any file is refused."""
    if not _NAME.match(name):
        raise SubmissionError(
            f"submission name {name!r}: 3-81 characters of a-z, 0-9, '.', '_' and '-', e.g. "
            "'npo-tiny-synthclinic-patient-10'."
        )
    dest = Path(into) / name
    if dest.exists():
        raise SubmissionError(f"{dest} exists; choose another --name.")
    files = _collect(inputs)
    Path(into).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=into))
    try:
        for f in files:
            shutil.copyfile(f, staging / f.name)
        validate_submission(staging, known=known)  # the same check a pull request gets
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return validate_submission(dest, known=known)
