"""``medlethe leaderboard submit RESULTS... --name NAME``: validate results (files, run
folders or a sweep's folder) and write them as one submission folder, ready for a pull
request. Only what the leaderboard reads is copied: ``results_*.json`` and a sweep's
``sweep_summary.json``, never per-sample values or logs."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from medlethe.errors import ResultsError
from medlethe.leaderboard.validate import (
    ABOUT_FILE,
    SWEEP_FILE,
    Known,
    Submission,
    SubmissionError,
    validate_submission,
)
from medlethe.results import results_files

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,80}$")
#: where submissions live in a checkout of medlethe
SUBMISSIONS = Path("leaderboard") / "submissions"


def _collect(inputs: Sequence[str | Path]) -> list[Path]:
    try:
        files = results_files(inputs, ("results_*.json", SWEEP_FILE))
    except ResultsError as e:
        raise SubmissionError(str(e)) from None
    names = [f.name for f in files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SubmissionError(
            f"{', '.join(twice)} given twice (one run, one file); submit each run once, or "
            "one sweep per submission."
        )
    return files


def checkout_submissions(start: Path | None = None) -> Path:
    """``leaderboard/submissions`` of the medlethe checkout that holds ``start`` (the
    working folder by default); outside a checkout, an error naming the fix."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / SUBMISSIONS).is_dir():
            return folder / SUBMISSIONS
    raise SubmissionError(
        f"{here} is not inside a checkout of medlethe (no {SUBMISSIONS} here or above): "
        "run it in your clone of the leaderboard's repository, or give --into FOLDER."
    )


def unmet(sub: Submission) -> list[str]:
    """The failed knowledge preconditions of a submission's runs (the target did not know
    a split: its forget numbers there are no evidence of forgetting)."""
    return sorted({f"{p.task}:{p.split}" for _, res in sub.runs for p in res.preconditions
                   if not p.held})


def submit(
    inputs: Sequence[str | Path],
    name: str,
    *,
    into: str | Path | None = None,
    known: Known | None = None,
    force: bool = False,
    by: str = "",
) -> Submission:
    """Validate ``inputs`` as one submission and write it to ``into/name`` (by default the
    working checkout's ``leaderboard/submissions``) with ``submission.json`` (``by``: a team,
    group or handle, and today's date); nothing is written when any file is
    refused, or when a run's knowledge precondition failed unless ``force``."""
    into = checkout_submissions() if into is None else Path(into)
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
        about = {"by": by, "submitted": datetime.now(UTC).date().isoformat()}
        (staging / ABOUT_FILE).write_text(json.dumps(about, indent=1) + "\n", encoding="utf-8")
        checked = validate_submission(staging, known=known)  # what a pull request gets
        failed = unmet(checked)
        if failed and not force:
            raise SubmissionError(
                f"the target did not know {', '.join(failed)} (failed preconditions: the "
                "forget numbers there show nothing); retrain it to know them, or give "
                "--force to submit anyway (those cells are greyed and never ranked)."
            )
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return validate_submission(dest, known=known)
