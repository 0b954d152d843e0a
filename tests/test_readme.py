"""The README's commands and code are run, so the docs cannot drift from the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

README = (ROOT / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def readme_commands() -> list[list[str]]:
    commands = []
    for block in blocks("console"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("$ medlethe "):
                commands.append(shlex.split(line[2:])[1:])
    return commands


@pytest.mark.slow
def test_readme_discovery_commands_run() -> None:
    runnable = [c for c in readme_commands() if c[0] not in {"evaluate", "finetune"}]
    assert len(runnable) >= 5
    for args in runnable:
        proc = run_cli(*args)
        assert proc.returncode == 0, f"medlethe {' '.join(args)} failed:\n{proc.stderr}"


@pytest.mark.slow
def test_readme_finetune_commands_run_on_a_small_size() -> None:
    finetunes = [c for c in readme_commands() if c[0] == "finetune"]
    assert {c[c.index("--on") + 1] for c in finetunes} == {"train", "retain"}
    small = ["--task-args", "n_patients=11,n_holdout=11", "--train-args", "qa_epochs=1"]
    for args in finetunes:
        proc = run_cli(*args, *small)
        assert proc.returncode == 0, f"medlethe {' '.join(args)} failed:\n{proc.stderr}"
        assert ("target" if "train" in args else "oracle") in proc.stdout


def test_readme_evaluate_flags_exist() -> None:
    evaluate = next(c for c in readme_commands() if c[0] == "evaluate")
    help_text = run_cli("evaluate", "--help").stdout
    flags = {a.strip("[]") for a in evaluate if a.strip("[]").startswith("--")}
    assert {"--model", "--tasks", "--adapter", "--log-samples"} <= flags
    for flag in flags:
        assert flag in help_text, flag


def test_readme_python_example_runs(
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, frame = blocks("python")
    monkeypatch.chdir(ROOT)
    code = code.replace("path/to/model", str(tiny_model)).replace('"results/"', repr(str(tmp_path)))
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "fixture/drug-recall forget rouge_l_recall" in out
    assert len(list(tmp_path.glob("results_*.json"))) == 1
    # the DataFrame example, on the demo's checked-in results
    demo = ROOT / "leaderboard" / "submissions" / "demo-tiny-synthclinic-patient-10"
    exec(compile(frame.replace('"seeds-out/runs"', repr(str(demo))), "README.md", "exec"), {})
    table = capsys.readouterr().out
    assert "GradAscent" in table and "synthclinic/patient-10" in table and "count" in table
