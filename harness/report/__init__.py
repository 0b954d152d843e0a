"""Human-readable summaries of runs: console tables and a static HTML page."""
