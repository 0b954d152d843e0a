"""Built-in unlearning methods: the baselines of the spec (section 4), registered by
``plugin.py`` through the same hook a third-party plugin uses."""
