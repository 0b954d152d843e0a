"""Submission checks: a results file (or a run folder of them) is ranked only if it passes.

A submission is one results file, or the results files of one folder (a ``medlethe run``
output). It is rejected, with the reason, when it

- is not JSON, has an unknown ``schema_version`` or is missing required provenance (the
  results schema: model and adapter fingerprints, task versions and data fingerprints, prompt
  hashes, seeds, library versions, hardware, command);
- names a task or metric that this medlethe does not know;
- mixes task or metric versions between its files (runs of different versions are never
  ranked together);
- holds free text anywhere (a string of more than 20 words, a line break, or more than 300
  characters: results carry numbers, names and fingerprints only), the name or record number
  of a person behind the data (as its task declares them), or markup (``<tag``, ``javascript:``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from medlethe import Registry, get_registry
from medlethe.errors import MedletheError
from medlethe.metrics import normalise
from medlethe.results import RESULTS_SCHEMA_VERSION, MetricResult, Results
from medlethe.sweep import SUMMARY_FILE, SWEEP_SUMMARY_VERSION

MAX_WORDS = 20
#: a results file holds names, numbers and intervals: medlethe's own stay well under 1 MB
MAX_RESULTS_BYTES = 20_000_000
MAX_CHARS = 300
#: an absolute path of any machine (``/data/...``, ``/mnt/...``, ``C:\\...``): results record
#: paths relative to the cache, the working or home folder, or hashed (medlethe.paths.portable)
_LOCAL_PATH = re.compile(r"^(/[^/\s]|[A-Za-z]:[\\/])")
_MARKUP = re.compile(r"<\s*[a-zA-Z!/?]|javascript:|&#", re.IGNORECASE)


class SubmissionError(MedletheError):
    """A submission the leaderboard refuses; the message says why and what to fix."""


@dataclass
class Submission:
    """A validated submission: its results, each with the file it came from."""

    source: Path
    runs: list[tuple[Path, Results]] = field(default_factory=list)
    #: who submitted it and when (``submission.json``, written by ``leaderboard submit``;
    #: without it, the date is the first run's)
    by: str = ""
    submitted: str = ""
    #: sweep summaries (``medlethe sweep``'s ``sweep_summary.json``), with their files
    sweeps: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)


def _leaves(value: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """(where, value) of every leaf of a parsed JSON value; a mapping's keys count as
    string leaves (``where(key)``)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{where}.{k}(key)".lstrip("."), str(k)
            yield from _leaves(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{where}[{i}]")
    else:
        yield where.lstrip("."), value


def _strings(value: Any) -> Iterator[tuple[str, str]]:
    return ((w, v) for w, v in _leaves(value) if isinstance(v, str))


def _numbers(value: Any) -> Iterator[tuple[str, float]]:
    return ((w, v) for w, v in _leaves(value)
            if isinstance(v, int | float) and not isinstance(v, bool))


class Known:
    """What this medlethe knows, worked out once for many files (a build reads many): the
    registered metrics with their ranges, and each task's person identifiers per task
    arguments."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or get_registry()
        self._metrics: dict[str, tuple[float, float] | None] | None = None
        self._people: dict[tuple[str, str], tuple[str, ...]] = {}

    @property
    def metrics(self) -> dict[str, tuple[float, float] | None]:
        """Registered metric names, and the names run metrics report beside their own,
        each with the range its values lie in (``None``: unbounded, or not loadable here)."""
        if self._metrics is None:
            known: dict[str, tuple[float, float] | None] = {}
            for comp in self.registry.components["metric"].values():
                try:
                    metric = comp.build()
                except (MedletheError, TypeError):
                    known[comp.name] = None  # not loadable here: names only
                    continue
                bounds = getattr(metric, "bounds", None)
                for name in (comp.name, *getattr(metric, "also_reports", ())):
                    known[name] = bounds
            self._metrics = known
        return self._metrics

    def people(self, results: Results) -> set[str]:
        """Identifiers of every person behind the file's tasks, as each task declares them
        (:meth:`medlethe.task.Task.person_identifiers`), built with the file's task
        arguments. A task that cannot be built here (its data is not on this machine) adds
        none; the free-text check still applies to it."""
        found: set[str] = set()
        for name, record in results.tasks.items():
            found |= self.people_of(name, record.args)
        return found

    def people_of(self, name: str, args: dict[str, Any]) -> set[str]:
        """Identifiers of every person behind task ``name`` built with ``args``."""
        if name not in self.registry.components["task"]:
            return set()
        key = (name, json.dumps(args, sort_keys=True, default=str))
        if key not in self._people:
            try:
                task = self.registry.get("task", name).build(**args)
            except (MedletheError, TypeError, OSError):
                task = None
            self._people[key] = tuple(task.person_identifiers()) if task else ()
        return {i for i in self._people[key] if i}


def _words(text: str) -> list[str]:
    return normalise(text).split()


class IdentifierMatcher:
    """Finds identifiers however they are written: case, spacing and punctuation are
    ignored, and a name (two or more words of letters) matches in any word order."""

    def __init__(self, identifiers: Collection[str]) -> None:
        words = [_words(i) for i in identifiers]
        self.phrases = {" ".join(w) for w in words if w}
        self.names = [frozenset(w) for w in words if len(w) >= 2 and all(x.isalpha() for x in w)]

    def found(self, text: str) -> bool:
        words = _words(text)
        joined = f" {' '.join(words)} "
        present = set(words)
        return any(f" {p} " in joined for p in self.phrases) or any(
            n <= present for n in self.names
        )


def check_text(raw: Any, source: Path) -> None:
    """Reject free text, markup and local paths anywhere in a parsed file."""
    for where, text in _strings(raw):
        if _MARKUP.search(text):
            raise SubmissionError(
                f"{source}: field {where} holds markup; results never contain "
                "HTML or scripts. Remove it."
            )
        if _LOCAL_PATH.search(text):
            raise SubmissionError(
                f"{source}: field {where} holds a local path ({text}); results record paths "
                "relative to the cache or working folder. Re-run with this medlethe."
            )
        words = len(text.split())
        if "\n" in text or words > MAX_WORDS or len(text) > MAX_CHARS:
            raise SubmissionError(
                f"{source}: field {where} holds free text ({words} words); results hold numbers, "
                "names and fingerprints only, never notes, questions or answers. Remove it "
                "(per-sample text belongs in the opt-in samples file, which is never submitted)."
            )


def check_identifiers(raw: Any, source: Path, identifiers: Collection[str]) -> None:
    """Reject any string of a parsed file that names a person behind the data."""
    matcher = IdentifierMatcher(identifiers)
    for where, text in _strings(raw):
        if matcher.found(text):
            raise SubmissionError(
                f"{source}: field {where} contains an identifier of a person behind the data "
                "(a name, record number or date); remove it before submitting."
            )


def read_submission_file(path: Path, known: Known | None = None) -> Results:
    """One results file, fully checked on its own."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot read it ({exc}).") from exc
    if size > MAX_RESULTS_BYTES:
        raise SubmissionError(
            f"{path}: {size / 1e6:.0f} MB, over the leaderboard's {MAX_RESULTS_BYTES / 1e6:.0f} "
            "MB limit for one results file (medlethe writes well under 1 MB: names, numbers "
            "and intervals; per-sample values live in the values file, never submitted). "
            "Submit the results file exactly as medlethe wrote it."
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError(f"{path}: not a readable JSON results file ({exc}).") from exc
    if not isinstance(raw, dict):
        raise SubmissionError(f"{path}: a results file is a JSON object.")
    version = raw.get("schema_version")
    if version != RESULTS_SCHEMA_VERSION:
        raise SubmissionError(
            f"{path}: unknown schema_version {version!r}; the leaderboard reads version "
            f"{RESULTS_SCHEMA_VERSION}. Re-run with a released medlethe."
        )
    check_text(raw, path)  # before parsing: nothing with markup or notes goes further
    try:
        results = Results.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise SubmissionError(
            f"{path}: required provenance is missing or malformed at {loc}: {first['msg']}. "
            "Submit the results file exactly as medlethe wrote it."
        ) from exc
    if not results.command or not results.tasks or not results.metrics:
        raise SubmissionError(f"{path}: no command, tasks or metrics: not a complete run.")
    for name, task in results.tasks.items():
        if task.limit is not None:
            raise SubmissionError(
                f"{path}: task {name!r} was evaluated on the first {task.limit} rows of each "
                "split (--limit): a smoke test, not a result. Run it again without --limit."
            )
        if not task.data_fingerprints or task.prompt_template_hash is None:
            raise SubmissionError(
                f"{path}: task {name!r} has no data fingerprints or prompt hash; the run "
                "cannot be reproduced."
            )
    known = known or Known()
    check_identifiers(raw, path, known.people(results))
    _check_components(results, path, known)
    return results


def _check_components(results: Results, path: Path, known: Known) -> None:
    """Every task and metric of ``results`` is known here, each measurement appears once,
    and every value and interval lies in its metric's range."""
    tasks = set(known.registry.names("task"))
    # lm-eval utility tasks (medlethe.lmeval) are lm-eval's, named and versioned by it
    external = {n for n, t in results.tasks.items()
                if n.startswith("lmeval:") and t.distribution == "lm_eval"}
    for name in results.tasks:
        if name not in tasks and name not in external:
            raise SubmissionError(
                f"{path}: task {name!r} is not known to this medlethe; install its task pack "
                "before building the leaderboard."
            )
    seen: set[tuple[Any, ...]] = set()
    for m in results.metrics:
        key = (m.task, m.split, m.subset, m.metric, m.against)
        if key in seen:
            raise SubmissionError(
                f"{path}: metric {m.metric} on {m.task}:{m.split} (subset {m.subset or 'all'}"
                f"{', against ' + m.against if m.against else ''}) appears more than once; a "
                "results file holds each measurement once. Submit it as medlethe wrote it."
            )
        seen.add(key)
    metrics = known.metrics
    for m in results.metrics:
        if m.task in external and m.plugin == "lm-eval":
            continue  # lm-eval's own metrics: finite numbers, checked by the schema
        if m.metric not in metrics:
            raise SubmissionError(
                f"{path}: metric {m.metric!r} is not known to this medlethe; install the plugin "
                "that defines it."
            )
        lo, hi = metrics[m.metric] or (-math.inf, math.inf)
        ends = (m.ci.low, m.ci.high) if m.ci is not None else (None, None)
        for what, x in (("value", m.value), ("interval low", ends[0]),
                        ("interval high", ends[1])):
            if x is not None and not lo <= x <= hi:
                raise SubmissionError(
                    f"{path}: {m.metric} on {m.task}:{m.split} has {what} {x:g}, outside its "
                    f"range [{lo:g}, {hi:g}]; submit the results file exactly as medlethe "
                    "wrote it."
                )


def metric_key(m: MetricResult) -> str:
    """A metric's name for version checks: lm-eval's metrics (an lm-eval utility task's
    ``acc``) are versioned by lm-eval, apart from medlethe's metrics of the same name."""
    return f"lm-eval:{m.metric}" if m.plugin == "lm-eval" else m.metric


#: what a sweep writes for the leaderboard (medlethe.sweep.report defines it)
SWEEP_FILE = SUMMARY_FILE
#: a submission folder's own record: who submitted it and on which day
ABOUT_FILE = "submission.json"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read_about(path: Path) -> dict[str, str]:
    """A submission's ``submission.json``: ``by`` (a team, group or handle) and
    ``submitted`` (YYYY-MM-DD), checked like the results (no markup or free text)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError(f"{path}: not readable JSON ({exc}).") from exc
    if not isinstance(raw, dict) or set(raw) - {"by", "submitted"} or not all(
            isinstance(v, str) for v in raw.values()):
        raise SubmissionError(
            f"{path}: holds exactly 'by' and 'submitted' (strings); let 'medlethe leaderboard "
            "submit --by NAME' write it."
        )
    check_text(raw, path)
    if not _DAY.match(raw.get("submitted", "")):
        raise SubmissionError(f"{path}: 'submitted' must be a date, YYYY-MM-DD.")
    return {"by": raw.get("by", ""), "submitted": raw["submitted"]}


def read_sweep_summary(path: Path, known: Known | None = None) -> dict[str, Any]:
    """A sweep's summary (across-seed headline and analyses), checked like a results file:
    known version, no free text, markup or identifiers, finite numbers, known tasks."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError(f"{path}: not a readable JSON sweep summary ({exc}).") from exc
    if not isinstance(raw, dict) or raw.get("sweep_summary_version") != SWEEP_SUMMARY_VERSION:
        raise SubmissionError(
            f"{path}: not a sweep summary of version {SWEEP_SUMMARY_VERSION}; submit the "
            f"{SWEEP_FILE} that 'medlethe sweep' wrote, unchanged."
        )
    check_text(raw, path)
    missing = [k for k in ("model", "scenarios", "seeds", "headline", "analyses") if k not in raw]
    if missing:
        raise SubmissionError(f"{path}: missing {', '.join(missing)}; submit it unchanged.")
    for where, x in _numbers(raw):
        if not math.isfinite(x):
            raise SubmissionError(f"{path}: field {where} is {x}, not a finite number.")
    _check_fronts(raw, path)
    known = known or Known()
    tasks = set(known.registry.names("task"))
    for name in raw["scenarios"]:
        if name not in tasks:
            raise SubmissionError(
                f"{path}: scenario {name!r} is not known to this medlethe; install its task "
                "pack before building the leaderboard."
            )
    people = set()
    for name in raw["scenarios"]:
        people |= known.people_of(name, raw.get("task_args") or {})
    check_identifiers(raw, path, people)
    return dict(raw)


def _check_fronts(raw: dict[str, Any], path: Path) -> None:
    """The shape of the fields the leaderboard places fronts by: each front names its
    scenario and method; per scenario, what its runs share lists their task versions."""
    fronts, data = raw.get("fronts", []), raw.get("comparability", {})
    if not (isinstance(fronts, list) and all(
            isinstance(f, dict) and isinstance(f.get("scenario"), str)
            and isinstance(f.get("method"), str) for f in fronts)):
        raise SubmissionError(f"{path}: field fronts is not a list of fronts, each naming its "
                              "scenario and method; submit the summary 'medlethe sweep' wrote.")
    if not (isinstance(data, dict) and all(
            isinstance(v, dict) and isinstance(v.get("task versions"), list)
            for v in data.values())):
        raise SubmissionError(f"{path}: field comparability is not, per scenario, what its runs "
                              "share (task versions, data, task arguments, limit, base model); "
                              "submit the summary 'medlethe sweep' wrote.")


def validate_submission(
    path: str | Path, registry: Registry | None = None, *, known: Known | None = None
) -> Submission:
    """A results file, or every ``results_*.json`` under a folder, as one submission
    (``known``: what to check against, shared across submissions by a build)."""
    source = Path(path)
    sweeps: list[Path] = []
    if source.is_dir():
        files = sorted(source.rglob("results_*.json"))
        sweeps = sorted(source.rglob(SWEEP_FILE))
        if not files and not sweeps:
            raise SubmissionError(
                f"{source}: no results_*.json or {SWEEP_FILE} files in this folder."
            )
    elif source.is_file() and source.name == SWEEP_FILE:
        files, sweeps = [], [source]
    elif source.is_file():
        files = [source]
    else:
        raise SubmissionError(f"{source} does not exist.")
    samples = sorted(source.rglob("samples_*.jsonl")) if source.is_dir() else []
    if samples:
        raise SubmissionError(
            f"{source}: holds {samples[0].name}, a per-sample log of prompts and answers that "
            "may contain patient text; remove it (samples files are never submitted)."
        )
    known = known or Known(registry)
    sub = Submission(source)
    task_versions: dict[str, tuple[str, Path]] = {}
    metric_versions: dict[str, tuple[str, Path]] = {}
    for f in files:
        res = read_submission_file(f, known)
        for name, task in res.tasks.items():
            seen = task_versions.setdefault(name, (task.version, f))
            if seen[0] != task.version:
                raise SubmissionError(
                    f"{source}: mixed task versions: {name} is version {seen[0]} in "
                    f"{seen[1].name} and {task.version} in {f.name}; submit runs of one version."
                )
        for m in res.metrics:
            seen = metric_versions.setdefault(metric_key(m), (m.metric_version, f))
            if seen[0] != m.metric_version:
                raise SubmissionError(
                    f"{source}: mixed metric versions: {m.metric} is version {seen[0]} in "
                    f"{seen[1].name} and {m.metric_version} in {f.name}."
                )
        sub.runs.append((f, res))
    sub.sweeps = [(f, read_sweep_summary(f, known)) for f in sweeps]
    about = source / ABOUT_FILE if source.is_dir() else None
    if about is not None and about.is_file():
        fields = read_about(about)
        sub.by, sub.submitted = fields["by"], fields["submitted"]
    else:
        sub.submitted = min((res.created[:10] for _, res in sub.runs), default="")
    return sub
