"""The wire protocol between the virtual pump and its programmer (sans-I/O)."""
