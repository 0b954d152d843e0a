"""medlethe's built-in kinds of task, one module each, registered by ``plugin.py`` through
the same ``register_kinds`` hook a third-party kind uses (the contract:
``medlethe/kind.py``)."""
