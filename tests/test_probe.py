"""The bad-input probe: each row is a mistake a user makes on the command line, and the one-line
error (naming the thing at fault and the fix) medlethe must answer with, never a traceback.

Every case runs the real ``medlethe`` command in a subprocess and fails before any model work,
so the whole table takes seconds. Cases that need a trained model (a method that fails, a
resumed run) live in ``test_pipeline.py``; submissions beyond the command line in
``test_leaderboard.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_cli

CLINIC = ROOT / "tests" / "fixtures" / "clinic_qa"
DEMO = ROOT / "leaderboard" / "submissions" / "demo-tiny-synthclinic-patient-10"
HUB_ID = "some-org/some-model"  # a hub id: never loaded, every case fails before


@dataclass
class Case:
    """``argv(tmp)`` builds the command line; the command must exit with ``rc`` and print
    ``error`` (a regex) on stderr."""

    argv: Callable[[Path], list[str]]
    error: str
    rc: int = 2
    env: Callable[[Path], dict[str, str]] = field(default=lambda tmp: {})


# -- fixtures the cases build ----------------------------------------------------------------
def clinic(tmp: Path, edit: Callable[[Path], None] | None = None) -> str:
    """A copy of the clinic_qa YAML task, edited; its path."""
    folder = tmp / "clinic"
    shutil.copytree(CLINIC, folder)
    if edit is not None:
        edit(folder)
    return str(folder / "generate.yaml")


def set_row(name: str, row: int, update: dict[str, Any]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / name
        lines = path.read_text().splitlines()
        doc = json.loads(lines[row - 1])
        doc.update(update)
        lines[row - 1] = json.dumps(doc)
        path.write_text("\n".join(lines) + "\n")

    return edit


def write(name: str, text: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / name).write_text(text)

    return edit


def yaml_edit(old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / "generate.yaml"
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))

    return edit


def submission(tmp: Path, edit: Callable[[dict[str, Any]], None], name: str = "sub") -> str:
    """A one-file submission copied from the demo's target run, edited."""
    folder = tmp / name
    folder.mkdir(parents=True)
    src = sorted(DEMO.glob("results_*.json"))[0]
    raw = json.loads(src.read_text())
    edit(raw)
    (folder / src.name).write_text(json.dumps(raw))
    return str(folder)


def first_metric(update: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        m = next(m for m in raw["metrics"] if m["metric"] == "rouge_l_recall")
        for key, value in update.items():
            if key.startswith("ci."):
                m["ci"][key[3:]] = value
            else:
                m[key] = value

    return edit


def forget_patient() -> Any:
    from medlethe.tasks.synthclinic.task import SynthclinicTask

    return SynthclinicTask("patient-10").forget[0]


def provenance_says(text: Callable[[], str]) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        raw["model"]["provenance"]["who"] = text()

    return edit


def plugin_dist(tmp: Path, source: str) -> dict[str, str]:
    """A real installed distribution on PYTHONPATH whose plugin is ``source``."""
    root = tmp / "site"
    root.mkdir()
    (root / "probe_plugin.py").write_text(textwrap.dedent(source))
    info = root / "probe_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: probe-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[medlethe]\nprobe_plugin = probe_plugin\n")
    return {"PYTHONPATH": str(root)}


def a_file(tmp: Path) -> Path:
    path = tmp / "a-file"
    path.write_text("not a folder")
    return path


NOTES = ROOT / "tests" / "fixtures" / "mimic_notes" / "notes.csv"


def notes(tmp: Path, edit: Callable[[list[str]], list[str]] | None = None,
          raw: bytes | None = None, suffix: str = ".csv") -> str:
    """A copy of the mimic-notes fixture table (its lines edited), or ``raw`` bytes; the
    ``--task-args`` that load it with forget class sepsis."""
    path = tmp / f"notes{suffix}"
    if raw is not None:
        path.write_bytes(raw)
    else:
        lines = NOTES.read_text().splitlines()
        path.write_text("\n".join(edit(lines) if edit else lines) + "\n")
    return f"source={path},forget_class=sepsis"


def notes_args(tmp: Path, **kw: Any) -> list[str]:
    """``medlethe evaluate`` of mimic-notes on a hub id that is never loaded: the table is
    read, and refused, before any model work."""
    return ["evaluate", "--model", HUB_ID, "--tasks", "mimic-notes/forget-class",
            "--task-args", notes(tmp, **kw)]


def plan(tmp: Path, text: str) -> str:
    path = tmp / "plan.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def repeat_metrics(raw: dict[str, Any]) -> None:
    raw["metrics"] = raw["metrics"] * 3


def oversized(tmp: Path) -> str:
    folder = Path(submission(tmp, lambda raw: None))
    path = next(folder.glob("results_*.json"))
    path.write_text(path.read_text() + " " * 21_000_000)
    return str(folder)


RAISING_FACTORY_PLUGIN = """
import medlethe

def build(**kwargs):
    raise RuntimeError("kaboom")

@medlethe.hookimpl
def register_tasks(register):
    register("probe/raises", build)
"""
RAISING_PLUGIN = """
import medlethe

@medlethe.hookimpl
def register_tasks(register):
    raise RuntimeError("boom")
"""
CLASHING_PLUGIN = """
import medlethe

@medlethe.hookimpl
def register_tasks(register):
    register("synthclinic/patient-10", "probe_plugin:Nothing")
"""

CASES: dict[str, Case] = {
    # -- security and submissions (leaderboard validate exits 1 and says why) --------------
    "run id escaping the site": Case(
        lambda t: ["leaderboard", "validate", submission(
            t, lambda raw: raw.update(run_id="../../escaped-runid"))],
        r"run_id", rc=1),
    "patient name reordered": Case(
        lambda t: ["leaderboard", "validate", submission(t, provenance_says(
            lambda: " ".join(reversed(forget_patient().name.split()))))],
        r"identifier of a person", rc=1),
    "patient name lower-cased, double-spaced": Case(
        lambda t: ["leaderboard", "validate", submission(t, provenance_says(
            lambda: forget_patient().name.lower().replace(" ", "  ")))],
        r"identifier of a person", rc=1),
    "admission date": Case(
        lambda t: ["leaderboard", "validate", submission(t, provenance_says(
            lambda: f"seen {forget_patient().admitted}"))],
        r"identifier of a person", rc=1),
    "value as a string": Case(
        lambda t: ["leaderboard", "validate", submission(t, first_metric({"value": "0.98"}))],
        r"value.*number", rc=1),
    "value as a boolean": Case(
        lambda t: ["leaderboard", "validate", submission(t, first_metric({"value": True}))],
        r"value.*number", rc=1),
    "NaN value": Case(
        lambda t: ["leaderboard", "validate", submission(t, first_metric({"value": "NaN"}))],
        r"value.*(finite|number)", rc=1),
    "infinite value": Case(
        lambda t: ["leaderboard", "validate",
                   submission(t, first_metric({"value": float("inf")}))],
        r"value.*finite", rc=1),
    "ROUGE-L of 57": Case(
        lambda t: ["leaderboard", "validate", submission(t, first_metric({"value": 57.0}))],
        r"rouge_l_recall.*57.*\[0, 1\]", rc=1),
    "interval low above high": Case(
        lambda t: ["leaderboard", "validate",
                   submission(t, first_metric({"ci.low": 0.9, "ci.high": 0.1}))],
        r"interval", rc=1),
    "samples file in the folder": Case(
        lambda t: ["leaderboard", "validate", _with_samples(t)],
        r"samples_.*patient text", rc=1),
    "two submissions with one run id": Case(
        lambda t: ["leaderboard", "build", submission(t, lambda raw: None, "a"),
                   submission(t, lambda raw: None, "b"), "--out", str(t / "site")],
        r"run id .* also in", rc=0),
    # -- task YAML and data --------------------------------------------------------------------
    "null field used by doc_to_target": Case(
        lambda t: ["validate", clinic(t, set_row("forget.jsonl", 2, {"drug": None}))],
        r"forget\.jsonl.*row 2.*'drug'.*null|row 2.*drug.*null"),
    "malformed JSONL line": Case(
        lambda t: ["validate", clinic(t, write("retain.jsonl", '{"patient": "A", "drug":\n'))],
        r"retain\.jsonl.*line 1"),
    "empty data file": Case(
        lambda t: ["validate", clinic(t, write("holdout.jsonl", ""))],
        r"holdout.*no rows"),
    "missing data file": Case(
        lambda t: ["validate", clinic(t, lambda f: (f / "retain.jsonl").unlink())],
        r"retain\.jsonl.*(not found|missing|does not exist)"),
    "nested YAML typo": Case(
        lambda t: ["validate", clinic(t, yaml_edit("max_new_tokens: 8", "max_new_token: 8"))],
        r"max_new_token.*max_new_tokens"),
    "--task-args for a YAML task": Case(
        lambda t: ["evaluate", "--model", HUB_ID, "--tasks", clinic(t),
                   "--task-args", "n_patients=5"],
        r"task arguments.*YAML|YAML.*task arguments"),
    # -- models, folders and arguments ---------------------------------------------------------
    "--model folder that is not a model": Case(
        lambda t: ["evaluate", "--model", str(t), "--tasks", clinic(t)],
        r"not a model folder"),
    "--model path that does not exist": Case(
        lambda t: ["evaluate", "--model", str(t / "no" / "model"), "--tasks", clinic(t)],
        r"no such (folder|model)"),
    "--output under a file": Case(
        lambda t: ["run", "--output", str(a_file(t) / "out"), "--methods", ""],
        r"a-file is a file"),
    "MEDLETHE_CACHE_DIR under a file": Case(
        lambda t: ["finetune", "--model", "tiny", "--scenario", "synthclinic/patient-10",
                   "--on", "train"],
        r"a-file is a file", env=lambda t: {"MEDLETHE_CACHE_DIR": str(a_file(t) / "c")}),
    "--train-args qa_epochs=abc": Case(
        lambda t: ["finetune", "--model", "tiny", "--scenario", "synthclinic/patient-10",
                   "--on", "train", "--train-args", "qa_epochs=abc"],
        r"qa_epochs"),
    "negative learning rate": Case(
        lambda t: ["finetune", "--model", "tiny", "--scenario", "synthclinic/patient-10",
                   "--on", "train", "--train-args", "learning_rate=-1"],
        r"learning_rate.*greater than 0"),
    "--task-args n_patients=abc": Case(
        lambda t: ["finetune", "--model", "tiny", "--scenario", "synthclinic/patient-10",
                   "--on", "train", "--task-args", "n_patients=abc"],
        r"n_patients"),
    "empty AMNESIA file": Case(
        lambda t: ["evaluate", "--model", HUB_ID, "--tasks", "amnesia/patient-5",
                   "--task-args", f"source={_empty(t)}"],
        r"empty\.jsonl.*no rows"),
    "misspelt --methods name": Case(
        lambda t: ["run", "--output", str(t / "o"), "--methods", "GradAscnt"],
        r"Unknown method 'GradAscnt'.*Did you mean 'GradAscent'"),
    "misspelt method in --method-args": Case(
        lambda t: ["run", "--output", str(t / "o"), "--methods", "GradAscent",
                   "--method-args", "GradAscnet.learning_rate=0.1"],
        r"--method-args.*'GradAscnet'.*Did you mean 'GradAscent'"),
    "invalid method hyperparameter": Case(
        lambda t: ["run", "--output", str(t / "o"), "--methods", "NPO",
                   "--method-args", "NPO.beta=-1"],
        r"method 'NPO'.*beta"),
    # -- plugins ---------------------------------------------------------------------------------
    "plugin whose register_tasks raises": Case(
        lambda t: ["tasks"], r"probe_plugin.*boom.*-p no:probe_plugin",
        env=lambda t: plugin_dist(t, RAISING_PLUGIN)),
    # -- round 3: data that cannot make a benchmark (refused before any training) ----------
    "forget class only in test rows": Case(
        lambda t: ["finetune", "--model", "tiny-bert", "--scenario", "mimic-notes/forget-class",
                   "--on", "train", "--task-args", notes(t, lambda ls: [*ls, (
                       '10006-DS-2,10006,"Stroke note.",stroke,test')]).replace(
                       "sepsis", "stroke")],
        r"'stroke' has no training rows.*nothing to unlearn"),
    "a patient in training and test rows": Case(
        lambda t: notes_args(t, edit=lambda ls: [ls[i].replace(",test", ",train") if i == 9
                                                 else ls[i] for i in range(len(ls))]),
        r"1 patient\(s\) have records both in training and in the held-out.*10005"),
    "a note id given twice": Case(
        lambda t: notes_args(t, edit=lambda ls: [*ls, ls[1]]),
        r"record id\(s\) occur more than once.*10001-DS-1.*duplicates=drop"),
    "empty CSV": Case(lambda t: notes_args(t, raw=b""), r"notes\.csv is empty"),
    "header-only CSV": Case(lambda t: notes_args(t, raw=b"subject_id,text,labels\n"),
                            r"notes\.csv has no rows"),
    "Latin-1 CSV": Case(
        lambda t: notes_args(t, raw="subject_id,text,labels\n1,caf\u00e9,sepsis\n".encode(
            "latin-1")),
        r"notes\.csv is not UTF-8"),
    "Latin-1 JSON lines": Case(
        lambda t: notes_args(t, suffix=".jsonl", raw=(
            '{"subject_id": 1, "text": "caf\u00e9", "labels": "sepsis"}\n').encode("latin-1")),
        r"notes\.jsonl is not UTF-8"),
    "--duplicates with a typo": Case(
        lambda t: [*notes_args(t)[:-1], notes_args(t)[-1] + ",duplicates=dorp"],
        r"duplicates='dorp'.*'error'.*'drop'"),
    # -- round 3: scaffold, sweep plans, flags -------------------------------------------------
    "scaffold named None": Case(
        lambda t: ["new", "method", "None", "--output", str(t)], r"reserved word"),
    "scaffold named after a built-in method": Case(
        lambda t: ["new", "method", "GradDiff", "--output", str(t)],
        r"'GradDiff' is already registered by plugin core_methods"),
    "scaffold --output that is a file": Case(
        lambda t: ["new", "method", "MyLoss", "--output", str(a_file(t))], r"a-file is a file"),
    "sweep with a method twice": Case(
        lambda t: ["sweep", plan(t, """
            scenarios: [synthclinic/patient-10]
            methods: [GradDiff, GradDiff]
            """)], r"methods repeat"),
    "sweep grid repeating a value": Case(
        lambda t: ["sweep", plan(t, """
            scenarios: [synthclinic/patient-10]
            methods: [NPO]
            grid: {NPO: {beta: [0.1, 0.1]}}
            """)], r"NPO\.beta repeats a value"),
    "sweep method_args for a misspelt method": Case(
        lambda t: ["sweep", plan(t, """
            scenarios: [synthclinic/patient-10]
            methods: [GradDiff]
            method_args: {GradDif: {alpha: 2}}
            """), "--output", str(t / "o")], r"method_args name GradDif.*runs GradDiff"),
    "sweep grid value a method refuses": Case(
        lambda t: ["sweep", plan(t, """
            scenarios: [synthclinic/patient-10]
            methods: [NPO]
            grid: {NPO: {beta: [0.1, -1]}}
            """), "--output", str(t / "o")], r"method 'NPO'.*beta"),
    "-p no: a plugin that is not installed": Case(
        lambda t: ["-p", "no:core_metricz", "tasks"],
        r"no installed plugin is named 'core_metricz'.*Did you mean 'core_metrics'"),
    "--threads 0": Case(lambda t: ["--threads", "0", "plugins"], r"--threads.*>= 1"),
    "validate: a YAML naming an unknown metric": Case(
        lambda t: ["validate", clinic(t, lambda f: (f / "generate.yaml").write_text(
            (f / "generate.yaml").read_text() + "metrics:\n  - name: rouge_l_recal\n"))],
        r"generate\.yaml: metrics: Unknown metric 'rouge_l_recal'.*rouge_l_recall"),
    "results with every metric row repeated": Case(
        lambda t: ["leaderboard", "validate", submission(t, repeat_metrics)],
        r"appears more than once", rc=1),
    "results file of 21 MB": Case(
        lambda t: ["leaderboard", "validate", oversized(t)], r"21 MB, over .* limit", rc=1),
    "results naming /data/...": Case(
        lambda t: ["leaderboard", "validate", submission(t, provenance_says(
            lambda: "/data/mimic/notes.csv"))], r"local path", rc=1),
    "a plugin's task raises an unexpected error": Case(
        lambda t: ["evaluate", "--model", HUB_ID, "--tasks", "probe/raises"],
        r"unexpected RuntimeError: kaboom.*--debug", rc=1,
        env=lambda t: plugin_dist(t, RAISING_FACTORY_PLUGIN)),
    "plugin name clashing with a built-in": Case(
        lambda t: ["tasks"], r"synthclinic/patient-10.*probe_plugin.*(rename|namespace)",
        env=lambda t: plugin_dist(t, CLASHING_PLUGIN)),
}


def _with_samples(tmp: Path) -> str:
    folder = submission(tmp, lambda raw: None)
    (Path(folder) / "samples_x.jsonl").write_text('{"prompt": "..."}\n')
    return folder


def _empty(tmp: Path) -> Path:
    path = tmp / "empty.jsonl"
    path.write_text("")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_clear_line(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    proc = run_cli(*case.argv(tmp_path), env=case.env(tmp_path))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == case.rc, (proc.returncode, proc.stderr)
    assert re.search(case.error, proc.stderr, re.DOTALL), proc.stderr
    if case.rc == 2:
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("medlethe: error:")]
        assert len(lines) == 1, proc.stderr


# -- round 3: what is not a command-line error ------------------------------------------------
BAD_METRIC_PLUGIN = """
import medlethe
from medlethe.metrics import Metric

class Bad(Metric):
    direction = "higher"
    output_types = frozenset({"generate"})

    def __init__(self, mode="raise"):
        super().__init__()
        self.mode = mode

    def score(self, sample):
        if self.mode == "raise":
            raise ZeroDivisionError("division by zero in my metric")
        return float("nan") if self.mode == "nan" else "0.5"

@medlethe.hookimpl
def register_metrics(register):
    register("probe_bad", Bad)
"""


@pytest.mark.parametrize(("mode", "said"), [
    ("raise", r"failed on fixture/drug-recall:forget \(ZeroDivisionError"),
    ("nan", r"gave float nan on fixture/drug-recall:forget, row 1; a metric gives a finite"),
    ("string", r"gave str '0.5' on fixture/drug-recall:forget, row 1"),
])
@pytest.mark.slow
def test_a_failing_metric_plugin_is_named_and_the_answers_are_kept(
    mode: str, said: str, tiny_model: Path, tmp_path: Path
) -> None:
    def with_metrics(text: str) -> Callable[[Path], None]:
        def edit(f: Path) -> None:
            yaml = f / "generate.yaml"
            yaml.write_text(yaml.read_text() + "metrics:\n  - name: rouge_l_recall\n" + text)
        return edit

    task = clinic(tmp_path, with_metrics(f"  - name: probe_bad\n    args: {{mode: {mode}}}\n"))
    cache = tmp_path / "responses.sqlite"
    env = plugin_dist(tmp_path, BAD_METRIC_PLUGIN)
    argv = ["evaluate", "--model", str(tiny_model), "--tasks", task, "--cache", str(cache),
            "--splits", "forget"]
    proc = run_cli(*argv, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert re.search(r"metric 'probe_bad' \(plugin probe_plugin, probe-plugin 0\.1\) " + said,
                     proc.stderr), proc.stderr
    assert f"kept in the response cache {cache}" in proc.stderr and "-p no:probe_plugin" in (
        proc.stderr)
    # the answers were paid for once: without the plugin's metric the rerun asks nothing
    again = run_cli(*argv[:4], clinic(tmp_path / "plain", with_metrics("")), *argv[5:])
    assert again.returncode == 0, again.stderr
    assert "model calls: 0" in again.stdout


def test_a_second_writer_into_one_output_folder_is_refused(tmp_path: Path) -> None:
    from medlethe.lock import hold

    with hold(tmp_path):
        proc = run_cli("run", "--output", str(tmp_path), "--methods", "")
    assert proc.returncode == 2, proc.stderr
    assert re.search(rf"{re.escape(str(tmp_path))} is in use: another medlethe command "
                     r"\(pid \d+, since .*\) is writing", proc.stderr), proc.stderr
    with hold(tmp_path):  # released when the block ended
        pass


def test_an_unknown_method_leaves_no_output_folder(tmp_path: Path) -> None:
    for argv in (["run", "--output", str(tmp_path / "run"), "--methods", "GradDif"],
                 ["run", "--output", str(tmp_path / "sweep"), "--methods", "GradDif",
                  "--seeds", "0,1"]):
        proc = run_cli(*argv)
        assert proc.returncode == 2 and "Unknown method 'GradDif'" in proc.stderr, proc.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()


def _demo_run(role: str) -> Any:
    from medlethe.results.evaluation import EvaluationRun
    from medlethe.results.io import read_results

    for path in sorted(DEMO.glob("results_*.json")):
        res = read_results(path)
        if res.model.role == role:
            return EvaluationRun(res, {}, {}, None)
    raise AssertionError(role)


def _again(run: Any, rid: str, **refs: str) -> Any:
    update: dict[str, Any] = {"run_id": rid}
    if refs:
        update["references"] = refs
    return type(run)(run.results.model_copy(update=update), {}, {}, None)


def test_a_replaced_run_is_deleted_only_when_nothing_refers_to_it(tmp_path: Path) -> None:
    """Two runs into one folder, one after the other: the second's target replaces the
    first's only once no unlearned run (or summary) refers to the first."""
    from medlethe.results.evaluation import EvaluationRun

    target, unlearned = _demo_run("target"), _demo_run("unlearned")
    t1 = _again(target, "20260101T000000-00000001").write(tmp_path)
    u1 = _again(unlearned, "20260101T000001-00000001", target=t1.run_id).write(tmp_path)
    t2 = _again(target, "20260101T000002-00000001").write(tmp_path)
    assert t1.path is not None and t1.path.exists()  # u1 still refers to it
    assert t2.path is not None and t2.path.exists()
    (tmp_path.parent / "summary.json").write_text(json.dumps({"models": [
        {"run_id": t2.run_id}, {"run_id": u1.run_id}]}))
    assert EvaluationRun.prune(tmp_path) == []  # the summary lists u1, and u1 refers to t1
    u2 = _again(unlearned, "20260101T000003-00000001", target=t2.run_id).write(tmp_path)
    assert u1.path is not None and u1.path.exists()  # listed by the summary
    (tmp_path.parent / "summary.json").write_text(json.dumps({"models": [
        {"run_id": t2.run_id}, {"run_id": u2.run_id}]}))
    assert EvaluationRun.prune(tmp_path) == sorted([t1.run_id, u1.run_id])
    assert sorted(p.name for p in tmp_path.glob("results_*.json")) == [
        f"results_{t2.run_id}.json", f"results_{u2.run_id}.json"]


@pytest.mark.parametrize(("model", "scenario"), [
    ("tiny-bert", "synthclinic-notes/forget-class-renal"),
    ("fusion-tiny", "synthclinic-cxr/patients-6pct"),
    ("tiny", "synthclinic/patient-10"),
])
@pytest.mark.slow
def test_base_models_build_byte_identical_from_fresh_caches(
    model: str, scenario: str, tmp_path: Path
) -> None:
    """Same data, same seed, fresh caches, two processes: the same tokenizer and weights,
    byte for byte (tokenizers' WordPiece trainer named its pieces in hash order, which
    changes from process to process)."""
    import hashlib
    import subprocess
    import sys

    code = ("from medlethe.base_models import resolve_base_model\n"
            "from medlethe.training.pipeline import load_scenario\n"
            f"task = load_scenario({scenario!r}, {{'n_patients': 44, 'n_holdout': 11}})\n"
            f"print(resolve_base_model({model!r}, task))\n")
    digests = []
    for i in range(2):
        env = {**os.environ, "MEDLETHE_CACHE_DIR": str(tmp_path / f"cache{i}")}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        folder = Path(out.stdout.strip().splitlines()[-1])
        digests.append({f.name: hashlib.sha256(f.read_bytes()).hexdigest()
                        for f in sorted(folder.iterdir()) if f.is_file()})
    assert digests[0] == digests[1]
    assert {"model.safetensors", "tokenizer.json"} <= set(digests[0])


def test_a_damaged_cached_model_is_rebuilt_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from medlethe.base_models import resolve_base_model
    from medlethe.training.pipeline import load_scenario

    monkeypatch.setenv("MEDLETHE_CACHE_DIR", str(tmp_path))
    task = load_scenario("synthclinic-notes/forget-class-renal", {"n_patients": 44,
                                                                  "n_holdout": 11})
    folder = Path(resolve_base_model("tiny-bert", task))
    weights = folder / "model.safetensors"
    good = weights.read_bytes()
    for damage in (lambda b: b[:-4096] + bytes(4096),  # a zeroed region
                   lambda b: b[: len(b) // 2]):  # cut short
        weights.write_bytes(damage(good))
        assert Path(resolve_base_model("tiny-bert", task)) == folder
        assert "does not match the fingerprint" in capsys.readouterr().err
        assert weights.read_bytes() == good  # rebuilt, the same bytes
    resolve_base_model("tiny-bert", task)
    assert "does not match" not in capsys.readouterr().err  # intact: used as it is


def test_damaged_images_are_rewritten_or_refused(tmp_path: Path) -> None:
    from PIL import Image

    from medlethe.errors import DatasetError
    from medlethe.tasks.synthclinic.cxr import CxrConfig, generate_cxr, write_images
    from medlethe.training.classifier import load_images

    studies = generate_cxr(CxrConfig(n_patients=2, n_holdout=1))[0][:3]
    paths = write_images(studies, tmp_path)
    first = [Path(p).read_bytes() for p in paths.values()]
    a, b, c = (Path(p) for p in paths.values())
    a.write_bytes(b"not a png")
    b.write_bytes(first[1][: len(first[1]) // 2])
    Image.new("L", (8, 8)).save(c)  # the wrong size
    write_images(studies, tmp_path)
    assert [Path(p).read_bytes() for p in paths.values()] == first
    a.write_bytes(first[0][:40])
    with pytest.raises(DatasetError, match=rf"image {re.escape(str(a))} cannot be read"):
        load_images([str(a)])
    Image.new("L", (8, 8)).save(c)
    with pytest.raises(DatasetError, match=r"is 8x8 pixels where the others are"):
        load_images([str(b), str(c)])


def test_a_replaced_image_changes_the_fingerprints(tmp_path: Path) -> None:
    from PIL import Image

    from medlethe.fingerprint import file_fingerprint

    image = tmp_path / "x.png"
    Image.new("L", (8, 8), 0).save(image)
    before = file_fingerprint(str(image))
    Image.new("L", (8, 8), 255).save(image)
    assert file_fingerprint(str(image)) != before and before.startswith(f"{image}#")


def test_a_damaged_response_cache_names_the_file_and_the_fix(tmp_path: Path) -> None:
    from medlethe.cache import CacheError, ResponseCache

    path = tmp_path / "responses.sqlite"
    cache = ResponseCache(path)
    cache.put_many("generate", [(f"k{i}", {"text": "x" * 500}) for i in range(200)])
    cache._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cache.close()
    raw = bytearray(path.read_bytes())
    raw[4096 * 2: 4096 * 6] = b"\xff" * (4096 * 4)  # pages of rows overwritten
    path.write_bytes(bytes(raw))
    with pytest.raises(CacheError, match=rf"{re.escape(str(path))} is damaged.*--no-cache"):
        ResponseCache(path).get_many([f"k{i}" for i in range(200)])


def test_empty_forget_sets_are_refused_before_training() -> None:
    from medlethe.errors import TaskConfigError
    from medlethe.task.base import Task, TrainingData
    from medlethe.training.pipeline import check_forget_set
    from medlethe.unlearn.trainer import _order

    class NothingToForget(Task):
        name, version, output_type = "probe/empty", "1", "generate"

        def split_names(self) -> list[str]:
            return []

        def docs(self, split: str) -> list[Any]:
            return []

        def instance(self, split: str, index: int, doc: Any) -> Any:
            raise AssertionError

        def training_data(self, on: str) -> TrainingData:
            return TrainingData([], [])

    with pytest.raises(TaskConfigError, match="probe/empty: the forget set is empty"):
        check_forget_set(NothingToForget())
    with pytest.raises(ValueError, match="empty set"):
        _order(0, 3, 2, "0")  # never an endless loop
    assert _order(3, 2, 2, "0") and len(_order(3, 5, 2, "0")) == 5


def test_duplicated_note_ids_can_be_dropped_and_are_counted(tmp_path: Path) -> None:
    from medlethe.registry import get_registry
    from medlethe.tasks.mimic_notes import MimicNotesTask

    args = dict(a.split("=", 1) for a in notes(
        tmp_path, edit=lambda ls: [*ls, ls[1], ls[1]]).split(","))
    task = MimicNotesTask(**args, duplicates="drop")
    assert task.skipped_rows() == {"duplicates": [11, 12]}
    clean = MimicNotesTask(source=str(NOTES), forget_class="sepsis")
    assert {s: len(task.docs(s)) for s in task.split_names()} == {
        s: len(clean.docs(s)) for s in clean.split_names()}
    assert get_registry()  # the registry still loads


def test_absolute_paths_outside_known_folders_are_hashed() -> None:
    from medlethe.paths import portable

    shown = portable("/data/mimic/notes.csv")
    assert re.fullmatch(r"local:notes\.csv#[0-9a-f]{12}", shown)
    assert portable("/data/mimic/notes.csv") == shown != portable("/mnt/mimic/notes.csv")


def test_long_texts_are_counted_when_cut(capsys: pytest.CaptureFixture[str]) -> None:
    from medlethe.base_models.encoders import train_wordpiece
    from medlethe.training.classifier import count_truncated

    tok = train_wordpiece(["a short note", "word " * 50], 256)
    assert count_truncated(tok, ["a short note", "word " * 50], 16, "probe") == 1
    assert "probe: 1 of 2 text(s) are longer than 16 tokens" in capsys.readouterr().err


def test_a_precondition_on_one_sampling_unit_says_so() -> None:
    from medlethe.metrics.preconditions import explain
    from medlethe.results.schema import Precondition

    one = Precondition(task="t", split="forget", metric="accuracy", reference="chance",
                       score=0.875, baseline=0.25, margin=0.625, ci=None, held=False)
    text = explain(one)
    assert "single sampling unit" in text and "does not know" not in text


def test_tasks_show_their_arguments_and_plugins_fit_the_screen() -> None:
    proc = run_cli("tasks", "--args", "mimic-notes/forget-class")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"forget_class\s+None", proc.stdout)
    assert re.search(r"duplicates\s+'error'", proc.stdout)
    assert "--args NAME" in run_cli("tasks").stdout
    checked = run_cli("validate", str(CLINIC / "generate.yaml"))
    assert checked.returncode == 0 and "Generating" not in checked.stderr, checked.stderr
    lines = run_cli("plugins").stdout.splitlines()
    assert max(map(len, lines)) <= 100 and any("method:GradDiff" in ln for ln in lines)
