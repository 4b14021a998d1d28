"""The programmer library and pumpctl, against the real pump over the loopback transport."""
