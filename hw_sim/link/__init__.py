"""The pump on a line: the serve loop, pty and serial ports, the noisy relay, line capture, the registry of running pumps, and the in-process loopback for tests."""
