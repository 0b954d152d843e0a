"""The bad-input probe: each row is a mistake a user makes on the command line, and the one-line
error (naming the thing at fault and the fix) medlethe must answer with, never a traceback.

Every case runs the real ``medlethe`` command in a subprocess and fails before any model work,
so the whole table takes seconds. Cases that need a trained model (a method that fails, a
resumed run) live in ``test_pipeline.py``; submissions beyond the command line in
``test_leaderboard.py``.
"""

from __future__ import annotations

import json
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
