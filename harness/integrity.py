"""Cached models are checked before they are used: each folder medlethe builds (embedded base
models, targets, oracles, unlearned models) is sealed with the fingerprint of its files when it
is finished, and a folder whose files no longer match (a damaged, truncated or edited weight
file) is removed and built again instead of being measured."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from medlethe.fingerprint import model_fingerprint

SEAL = "medlethe_seal.json"


def seal(folder: Path) -> None:
    """Record the fingerprint of ``folder``'s weight, config and tokenizer files."""
    (folder / SEAL).write_text(json.dumps({"fingerprint": model_fingerprint(str(folder))}))


def intact(folder: Path, what: str) -> bool:
    """Whether ``folder`` still holds the files it was sealed with. A folder that does not
    is removed (with a warning naming it) so that the caller builds it again; one sealed by
    no one (built before seals) is sealed now."""
    path = folder / SEAL
    try:
        expected = json.loads(path.read_text(encoding="utf-8"))["fingerprint"]
    except FileNotFoundError:
        seal(folder)
        return True
    except (OSError, ValueError, KeyError, TypeError):
        expected = None
    if expected is not None and model_fingerprint(str(folder)) == expected:
        return True
    print(f"medlethe: warning: the cached {what} at {folder} does not match the fingerprint "
          "written when it was built (a file was changed, damaged or cut short); removing it "
          "and building it again.", file=sys.stderr)
    shutil.rmtree(folder, ignore_errors=True)
    return False
