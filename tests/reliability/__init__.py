"""Campaigns: fuzzing, attacks, power loss, noisy links and load, bounded in CI."""
