"""Training: the one loop (``loop``) that fine-tunes targets and oracles (``finetune``,
``pipeline``) and runs every loss-based unlearning method (``medlethe.unlearn.trainer``)."""
