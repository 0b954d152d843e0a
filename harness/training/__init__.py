"""Training loops: fine-tuning targets and oracles (and, later, unlearning)."""
