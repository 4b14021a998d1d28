"""The virtual board (the models wired to the firmware), its scheduler, and its state on disk: hardware truth, state files and the programmed-delivery yardstick."""
