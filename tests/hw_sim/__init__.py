"""The virtual board: hardware models, scenarios, state files, the launcher."""
