"""Built-in unlearning methods (arrive with the unlearning-methods issue)."""
