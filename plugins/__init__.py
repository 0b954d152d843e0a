"""medlethe's built-in plugins. Each registers through the same hooks a third-party plugin
uses, and can be disabled by name (``medlethe -p no:core_metrics``)."""
