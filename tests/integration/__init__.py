"""Real processes over real ptys: vpump serve in a subprocess, pumpctl as a user types it."""
