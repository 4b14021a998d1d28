"""The pump on a line: the serve loop, pty and serial ports, the noisy relay, line capture and the registry of running pumps."""
