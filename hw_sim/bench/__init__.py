"""The bench around a running board (wand, faults, clock, pairing at the pump) and its control socket."""
