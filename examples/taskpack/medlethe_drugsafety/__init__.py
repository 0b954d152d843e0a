"""medlethe-taskpack-example: withdrawn drug-safety guidance that a model must forget."""

__version__ = "0.1.0"
