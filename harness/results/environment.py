"""Library versions and hardware, recorded in every results file."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

from medlethe.results.schema import Environment

_LIBRARIES = (
    "medlethe", "torch", "transformers", "peft", "datasets", "tokenizers", "vllm",
    "pluggy", "numpy", "scipy", "scikit-learn", "rouge-score", "jinja2", "pydantic",
)


def _hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"machine": platform.machine(), "cpu_count": os.cpu_count()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        info["cpu"] = platform.processor()
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = [
                torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
            ]
    return info


def environment() -> Environment:
    libs = {}
    for name in _LIBRARIES:
        try:
            libs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return Environment(
        python=sys.version.split()[0],
        platform=platform.platform(),
        libraries=libs,
        hardware=_hardware(),
    )
