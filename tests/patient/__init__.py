"""The patient model: pharmacokinetics, effect, withdrawal, screening and its wiring to the board."""
