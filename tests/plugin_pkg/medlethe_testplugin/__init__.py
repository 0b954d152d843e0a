"""medlethe-testplugin: what a third-party plugin looks like."""
