"""`medlethe new method NAME` and `medlethe new kind NAME`: the written package installs
with `pip install -e` (into a fresh virtual environment layered on this one, so this
environment is left as it was), `medlethe methods` / `medlethe kinds` list what it adds,
and the package's own tests pass."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from medlethe.errors import MedletheError
from medlethe.scaffold import new_kind, new_method
from tests.conftest import ROOT


def _run(python: Path, *args: str, cwd: Path) -> str:
    proc = subprocess.run([str(python), *args], cwd=cwd, text=True, capture_output=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def _layered(tmp_path: Path, root: Path) -> Path:
    """A virtual environment that sees this one's packages (medlethe, torch, pip, ...), with
    the package at ``root`` installed; its python."""
    venv = tmp_path / "venv"
    _run(Path(sys.executable), "-m", "venv", "--without-pip", str(venv), cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                        "['purelib'])", cwd=tmp_path).strip())
    parent = sysconfig.get_paths()["purelib"]
    (purelib / "medlethe-parent.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    _run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "-e", str(root), cwd=tmp_path)
    return python


@pytest.mark.slow
def test_new_method_installs_lists_and_passes_its_tests(tmp_path: Path) -> None:
    out = _run(Path(sys.executable), "-m", "medlethe", "new", "method", "MyLoss",
               "--output", str(tmp_path), cwd=ROOT)
    root = tmp_path / "medlethe-myloss"
    assert str(root) in out and (root / "medlethe_myloss" / "method.py").exists()
    python = _layered(tmp_path, root)
    listed = _run(python, "-m", "medlethe", "methods", cwd=tmp_path)
    assert "MyLoss" in listed and "medlethe_myloss" in listed
    params = _run(python, "-m", "medlethe", "methods", "--params", "MyLoss", cwd=tmp_path)
    assert "retain_weight" in params and "forget_weight" in params
    tests = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=root)
    assert "2 passed" in tests
    # this environment did not change
    here = _run(Path(sys.executable), "-m", "medlethe", "methods", cwd=ROOT)
    assert "MyLoss" not in here


def test_bad_name_and_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(MedletheError, match="letters"):
        new_method("9 lives", tmp_path)
    new_method("Ok", tmp_path)
    with pytest.raises(MedletheError, match="exists"):
        new_method("Ok", tmp_path)


@pytest.mark.slow
def test_new_kind_installs_lists_and_runs_end_to_end(tmp_path: Path) -> None:
    """The kind package is medlethe's worked example under the new name: installed, it is
    listed, and its own test runs `medlethe run` on it end to end."""
    out = _run(Path(sys.executable), "-m", "medlethe", "new", "kind", "ehr-rows",
               "--output", str(tmp_path), cwd=ROOT)
    root = tmp_path / "medlethe-ehr-rows"
    assert str(root) in out and (root / "medlethe_ehr_rows" / "kind.py").exists()
    assert "class EhrRows(Kind)" in (root / "medlethe_ehr_rows" / "kind.py").read_text()
    python = _layered(tmp_path, root)
    assert "ehr-rows" in _run(python, "-m", "medlethe", "kinds", cwd=tmp_path)
    tests = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=root)
    assert "1 passed" in tests
    with pytest.raises(MedletheError, match="already registered"):
        new_kind("tabular", tmp_path / "again")
    with pytest.raises(MedletheError, match="lowercase"):
        new_kind("EHR rows", tmp_path)
