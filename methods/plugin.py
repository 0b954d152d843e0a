"""Registers the built-in unlearning methods (imported only when one is used)."""

from __future__ import annotations

from medlethe.hookspecs import Register, hookimpl

_DESCRIPTIONS = {
    "GradAscent": "-CE(D_f)",
    "GradDiff": "-CE(D_f) + alpha CE(D_r)",
    "KL-Min": "-CE(D_f) + alpha KL(p_ref || p) on D_r",
    "NPO": "negative preference optimisation + alpha CE(D_r)",
    "SimNPO": "reference-free NPO, length-normalised + lambda CE(D_r)",
    "RMU": "misdirect layer-l activations of D_f to c*u, keep D_r's",
    "IdkPO": "DPO preferring 'I don't know' over the forgotten answer",
    "Retrain": "the oracle: fine-tune the base model on D_r only",
}
_CLASSES = {"KL-Min": "KLMin"}


@hookimpl
def register_methods(register: Register) -> None:
    for name, description in _DESCRIPTIONS.items():
        cls = _CLASSES.get(name, name)
        register(name, f"medlethe.methods.builtin:{cls}", description=description)
