"""medlethe's built-in task packs."""
