"""Model builders: the ``tiny`` model trained from scratch (and, later, embedded models)."""
