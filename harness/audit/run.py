"""``medlethe audit``: for the patients of one deletion request, whether the unlearned model
still behaves as if it had seen their records; a verdict per patient and for the request.

The audited model, the target and each reference model (oracles) are evaluated on the
scenario's forget and holdout splits (cached like every evaluation); per patient, a
membership test and, for free-text tasks, a leakage test (``medlethe.audit.stats``) give
p-values, corrected together by Benjamini-Hochberg at ``level``. A patient is

- **not shown forgotten** where a test rejects (which, with its adjusted p-value),
- **inconclusive** where none rejects but the test could not have: the patient has fewer
  than ``min_records`` records, or the same test does not flag the *target* for them (the
  target itself is not shown to know the patient, so forgetting cannot be shown either),
- **forgotten** otherwise.

With ``attacks`` (``medlethe run --attacks`` entries), the unlearned model is also attacked
(quantized, fine-tuned a few steps, asked in other words) and the membership and leakage
tests run on each attacked model too, in the same Benjamini-Hochberg family: a patient
recovered under an attack is not forgotten. Rows an attack trained on (``relearn[on=forget]``)
are left out of its tests.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medlethe.audit.record import AUDIT_VERSION, AuditError, salted, seal
from medlethe.audit.stats import (
    ULIRA_MIN_REFERENCES,
    bh,
    detectable,
    empirical_p,
    leak_p,
    null_means,
    rank_p,
    scores_by_patient,
    ulira_p,
)
from medlethe.results.evaluation import CLUSTER_LABEL, EvaluationRun

#: membership scores an audit can use (per record; higher = more member-like)
STATISTICS = ("mia_loss", "mia_zlib", "mia_min_k", "mia_min_k_pp")
SPLITS = ("forget", "holdout")
#: how the membership test calls a patient's scores unusual (U-LiRA wins with 4+ references)
MEMBERSHIP_TESTS = ("empirical", "rank")


def read_request(path: str | Path) -> tuple[list[str], str]:
    """The patient ids of a request file (one per line; ``#`` comments and blank lines
    skipped) and the file's sha256."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AuditError(f"request {path}: cannot read it ({exc}).") from exc
    ids = [line.split("#", 1)[0].strip() for line in raw.decode("utf-8").splitlines()]
    ids = list(dict.fromkeys(i for i in ids if i))
    if not ids:
        raise AuditError(f"request {path}: no patient id in it (one id per line).")
    return ids, "sha256:" + hashlib.sha256(raw).hexdigest()


def _evaluate(model: str, scenario: str, adapter: str | None, **kwargs: Any) -> EvaluationRun:
    from medlethe.evaluator import evaluate

    return evaluate(model, [scenario], adapter=adapter, splits=list(SPLITS), **kwargs)


def _column(run: EvaluationRun, task: str, split: str, metric: str) -> list[float]:
    col = run.column(task, split, metric)
    if col is None:
        raise AuditError(f"{task}: the evaluation gave no {metric!r} on {split}; an audit "
                         f"needs a task whose kind scores {', '.join(STATISTICS)}.")
    return [np.nan if v is None else float(v) for v in col]


class _Tests:
    """The p-values of one model for every requested patient."""

    def __init__(self, run: EvaluationRun, refs: Sequence[EvaluationRun], task: str,
                 statistic: str, test: str, excluded: frozenset[int] = frozenset()) -> None:
        self.test = test
        self.excluded = excluded  # forget rows an attack trained on: not tested
        self.units = {s: [str(u) for u in run.row_labels(task, s, CLUSTER_LABEL) or []]
                      for s in SPLITS}
        scores = {s: np.asarray(_column(run, task, s, statistic)) for s in SPLITS}
        ref_scores = [{s: np.asarray(_column(r, task, s, statistic)) for s in SPLITS}
                      for r in refs]
        self.ulira = len(refs) >= ULIRA_MIN_REFERENCES
        if refs and not self.ulira:  # calibrated by the references' mean on each record
            scores = {s: scores[s] - np.mean([r[s] for r in ref_scores], axis=0)
                      for s in SPLITS}
        self.scores, self.ref_scores = scores, ref_scores
        self.ref_sd = None  # U-LiRA's one standard deviation, pooled over every record
        if self.ulira:
            every = np.concatenate([np.stack([r[s] for r in ref_scores]) for s in SPLITS], 1)
            self.ref_sd = float(np.sqrt(np.nanmean(np.nanvar(every, axis=0, ddof=1))))
        self.null = null_means(scores_by_patient(list(scores["holdout"]), self.units["holdout"]))
        leaks = run.column(task, "forget", "identifier_leakage")
        held = run.column(task, "holdout", "identifier_leakage")
        self.leaks = None if leaks is None or held is None else (
            np.asarray([np.nan if v is None else v for v in leaks], dtype=float),
            float(np.nanmean([np.nan if v is None else v for v in held] or [0.0])),
            len(held))

    def rows(self, patient: str) -> np.ndarray:
        return np.asarray([u == patient and i not in self.excluded
                           for i, u in enumerate(self.units["forget"])], dtype=bool)

    def pvalues(self, patient: str) -> dict[str, dict[str, Any]]:
        rows = self.rows(patient)
        x = self.scores["forget"][rows]
        x = x[np.isfinite(x)]
        out: dict[str, dict[str, Any]] = {}
        if x.size:
            if self.ulira:
                p = ulira_p(x, [r["forget"][rows][np.isfinite(self.scores["forget"][rows])]
                                for r in self.ref_scores], sd=self.ref_sd)
            elif self.test == "rank":
                held = self.scores["holdout"]
                p = rank_p(x, held[np.isfinite(held)])
            else:
                p = empirical_p(float(x.mean()), self.null)
            out["membership"] = {"p": p, "statistic": float(x.mean())}
        if self.leaks is not None:
            mine = self.leaks[0][rows]
            mine = mine[np.isfinite(mine)]
            n_leak = int(mine.sum())
            out["leakage"] = {"p": leak_p(n_leak, int(mine.size), self.leaks[1], self.leaks[2]),
                              "statistic": n_leak}
        return out


def _attacked(entries: Sequence[str], task: Any, scenario: str, model: str,
              adapter: str | None, evaluate_kw: dict[str, Any], seed: int, progress: bool,
              ) -> list[tuple[dict[str, Any], EvaluationRun, frozenset[int]]]:
    """Each attack of ``entries`` on the audited model: what it was, the evaluation of the
    attacked model, and the forget rows it trained on."""
    from medlethe.attack_run import run_attack, variant
    from medlethe.fingerprint import model_fingerprint

    fp = model_fingerprint(model) + (f"+{model_fingerprint(adapter)}" if adapter else "")
    out = []
    for entry in entries:
        name, params = variant(entry)
        made = run_attack(name, task, Path(model), Path(adapter) if adapter else None, fp,
                          params=params, seed=seed, progress=progress)
        o = made.output
        run = _evaluate(str(o.path), scenario, str(o.adapter) if o.adapter else None,
                        model_role="attacked", asked_with=o.prompts, **evaluate_kw)
        used = frozenset(o.meta.get("used_rows", {}).get("forget", []))
        out.append(({"label": entry, "name": name, "params": made.params,
                     "fingerprint": made.fingerprint, "rows_trained_on": len(used)}, run, used))
    return out


def _adjusted(found: dict[str, dict[str, dict[str, Any]]], level: float) -> None:
    """Benjamini-Hochberg over every (patient, test) p-value, in place."""
    keys = [(p, t) for p, tests in found.items() for t in tests]
    for (p, t), adj in zip(keys, bh([found[p][t]["p"] for p, t in keys]), strict=True):
        found[p][t]["p_adjusted"] = float(adj)
        found[p][t]["rejected"] = bool(adj <= level)


def audit(model: str, scenario: str, request: str | Path, *, target: str,
          adapter: str | None = None, references: Sequence[str] = (),
          task_args: dict[str, Any] | None = None, level: float = 0.05,
          statistic: str = "mia_loss", membership: str = "rank", salt: bytes,
          min_records: int = 2, attacks: Sequence[str] = (),
          backend: str = "hf", seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """The sealed audit record of ``request`` (a file of patient ids) against the
    unlearned ``model`` (plus ``adapter``) on ``scenario``; see the module's docstring."""
    from medlethe.training.pipeline import load_scenario

    if statistic not in STATISTICS:
        raise AuditError(f"statistic {statistic!r}: use one of {', '.join(STATISTICS)}.")
    if membership not in MEMBERSHIP_TESTS:
        raise AuditError(f"membership test {membership!r}: use one of "
                         f"{', '.join(MEMBERSHIP_TESTS)}.")
    if not 0 < level < 1:
        raise AuditError(f"level {level}: a significance level lies between 0 and 1.")
    patients, request_hash = read_request(request)
    task = load_scenario(scenario, task_args)
    known = {task.cluster_of(i) for i in task.instances("forget")}
    unknown = [p for p in patients if p not in known]
    if unknown:
        raise AuditError(f"request {request}: {len(unknown)} of its {len(patients)} ids are "
                         f"not patients of {scenario}'s forget set (first: {unknown[0]!r}); "
                         "audit a request against the scenario its model unlearned.")
    kw = {"task_args": task_args, "backend": backend, "seed": seed, "progress": progress}
    refs = [_evaluate(r, scenario, None, model_role="oracle", **kw) for r in references]
    runs = {"unlearned": _evaluate(model, scenario, adapter, model_role="unlearned", **kw),
            "target": _evaluate(target, scenario, None, model_role="target", **kw)}
    tests = {k: _Tests(run, refs, task.name, statistic, membership)
             for k, run in runs.items()}
    found = {k: {p: t.pvalues(p) for p in patients} for k, t in tests.items()}
    done = _attacked(attacks, task, scenario, model, adapter, kw, seed, progress)
    for what, run, used in done:  # one family with the unattacked tests
        t = _Tests(run, refs, task.name, statistic, membership, excluded=used)
        for p in patients:
            found["unlearned"][p].update({f"{k} under {what['label']}": v
                                          for k, v in t.pvalues(p).items()})
    for by_patient in found.values():
        _adjusted(by_patient, level)
    mine = tests["unlearned"]
    mde = detectable(mine.null, level, sum(len(v) for v in found["unlearned"].values()))
    rows = []
    for p in patients:
        got, before = found["unlearned"][p], found["target"][p]
        n = int(mine.rows(p).sum())
        rejected = sorted(t for t, v in got.items() if v["rejected"])
        if rejected:
            verdict, why = "not shown forgotten", f"rejected by {', '.join(rejected)}"
        elif n < min_records:
            verdict, why = "inconclusive", f"{n} record(s), fewer than {min_records}"
        elif not all(v["rejected"] for v in before.values()):
            blind = sorted(t for t, v in before.items() if not v["rejected"])
            verdict, why = "inconclusive", (f"{', '.join(blind)} does not flag the target "
                                            "itself for this patient")
        else:
            verdict, why = "forgotten", "no test rejects; each rejects the target"
        rows.append({"id": salted(p, salt), "records": n, "verdict": verdict, "why": why,
                     "tests": got, "target_tests": before})
    record = _record(rows, mine, level, statistic, min_records, mde, request_hash, task,
                     scenario, task_args, model, adapter, target, references)
    record["attacks"] = [what for what, _, _ in done]
    return seal(record)


def _record(rows: list[dict[str, Any]], mine: _Tests, level: float, statistic: str,
            min_records: int, mde: float | None, request_hash: str, task: Any, scenario: str,
            task_args: dict[str, Any] | None, model: str, adapter: str | None, target: str,
            references: Sequence[str]) -> dict[str, Any]:
    """The audit record (unsealed): what was tested, on what, and every verdict."""
    from medlethe import __version__
    from medlethe.fingerprint import model_fingerprint
    from medlethe.results.environment import environment

    counts = {v: sum(r["verdict"] == v for r in rows)
              for v in ("forgotten", "not shown forgotten", "inconclusive")}
    overall = ("forgotten" if counts["forgotten"] == len(rows) else
               "not shown forgotten" if counts["not shown forgotten"] else "inconclusive")
    return {
        "audit_version": AUDIT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "medlethe_version": __version__,
        "scenario": scenario, "task": task.name, "task_version": task.version,
        "task_args": task_args or {},
        "data_fingerprints": {s: task.data_fingerprint(s) for s in SPLITS},
        "request": {"sha256": request_hash, "patients": len(rows),
                    "ids": "HMAC-SHA256 of each id under the requester's salt"},
        "models": {
            "unlearned": {"fingerprint": model_fingerprint(model),
                          "adapter_fingerprint": model_fingerprint(adapter) if adapter else None},
            "target": {"fingerprint": model_fingerprint(target)},
            "references": [{"fingerprint": model_fingerprint(r)} for r in references],
        },
        "tests": {
            "membership": {"statistic": statistic, "method": "U-LiRA (per record a Gaussian "
                           "at the references' mean, one standard deviation pooled over "
                           "every record, Stouffer over the patient's records)"
                           if mine.ulira else ("one-sided Mann-Whitney of the patient's "
                                               "records against the holdout records"
                                               if mine.test == "rank" else "empirical, against "
                                               "the holdout patients' mean scores")
                           + (" (each record's score minus the references' mean)"
                              if references and not mine.ulira else ""),
                           "null_patients": len(mine.null), "smallest_detectable_shift": mde},
            **({"leakage": {"method": "binomial: records whose greedy answer names a "
                            "forget-set identifier its prompt does not give, against the "
                            "model's rate on holdout records"}} if mine.leaks else {}),
        },
        "level": level, "correction": "Benjamini-Hochberg over every patient and test",
        "min_records": min_records,
        "verdict": overall, "counts": counts, "patients": rows,
        "environment": environment().model_dump(mode="json"),
    }
