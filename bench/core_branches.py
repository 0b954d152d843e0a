"""Count the core's branches on task kinds, and the built-ins' imports of non-public names.

Branches (issue 34's measure): every ``if``/``elif`` statement, conditional expression and
comprehension filter in harness/, leaderboard/ and plugins/ (the kind modules, kinds/,
excluded) whose test names an output-type literal or reads one of the attributes
``output_type``, ``kind``, ``classes``, ``images`` or ``image``; and, so that a flag set
first (``classify = task.output_type == "classify"``) does not hide a branch, every
comparison elsewhere that names an output-type literal or reads ``output_type`` (also
through ``getattr``). One count per line.

Non-public imports: every name a built-in plugin module (tasks/, methods/, plugins/,
leaderboard/, and kinds/ once it exists) imports from medlethe that is not in the
``__all__`` of a public module (tests/test_contract.py's PUBLIC), counting an
``import medlethe.x.y`` of a non-public module as one, and not counting imports within the
built-in's own package (``medlethe.tasks...`` inside tasks/).

    python bench/core_branches.py            # the totals
    python bench/core_branches.py --list     # every hit, file:line
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LITERALS = {"generate", "multiple_choice", "loglikelihood", "classify"}
ATTRIBUTES = {"output_type", "kind", "classes", "images", "image"}
CORE = ("harness", "leaderboard", "plugins")


def _names_a_kind(test: ast.AST, attributes: set[str] = ATTRIBUTES) -> bool:
    for node in ast.walk(test):
        if isinstance(node, ast.Constant) and node.value in LITERALS:
            return True
        if isinstance(node, ast.Attribute) and node.attr in attributes:
            return True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "getattr" and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in attributes):
            return True
    return False


def branches(folders: tuple[str, ...] = CORE) -> list[str]:
    hits = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                tests: list[ast.AST] = []
                if isinstance(node, (ast.If, ast.IfExp)):
                    tests = [node.test]
                elif isinstance(node, ast.comprehension):
                    tests = list(node.ifs)
                for test in tests:
                    if _names_a_kind(test):
                        hits.append(f"{path.relative_to(ROOT)}:{test.lineno}")
                if isinstance(node, ast.Compare) and _names_a_kind(node, {"output_type"}):
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return sorted(set(hits), key=lambda h: (h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])))


PUBLIC = ("medlethe", "medlethe.task", "medlethe.metrics", "medlethe.unlearn",
          "medlethe.backends", "medlethe.training", "medlethe.errors", "medlethe.results",
          "medlethe.report", "medlethe.sweep")
BUILTINS = {"tasks": "medlethe.tasks", "methods": "medlethe.methods",
            "plugins": "medlethe.plugins", "leaderboard": "medlethe.leaderboard",
            "kinds": "medlethe.kinds"}


def private_imports() -> list[str]:
    import importlib

    public = {m: set(importlib.import_module(m).__all__) for m in PUBLIC}
    hits = []
    for folder, package in BUILTINS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    module, names = node.module, [a.name for a in node.names]
                elif isinstance(node, ast.Import):
                    module, names = "", [a.name for a in node.names]
                else:
                    continue
                for name in names:
                    full = f"{module}.{name}" if module else name
                    if not full.startswith("medlethe.") or full.startswith(package + "."):
                        continue
                    if module in public and name in public[module]:
                        continue
                    if not module and name in PUBLIC:
                        continue
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno} {full}")
    return hits


if __name__ == "__main__":
    found, private = branches(), private_imports()
    if "--list" in sys.argv:
        print("\n".join(found + private))
    files = {h.rsplit(":", 1)[0] for h in found}
    print(f"kind branches in {', '.join(CORE)}: {len(found)} in {len(files)} modules")
    print(f"non-public names imported by built-ins: {len(private)}")
