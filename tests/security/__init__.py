"""Security regression tests: each reproduces an attack of the adversarial review and shows it fails."""
