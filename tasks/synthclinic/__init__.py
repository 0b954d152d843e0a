"""synthclinic: the embedded benchmark of fictitious patients (AMNESIA-style)."""
