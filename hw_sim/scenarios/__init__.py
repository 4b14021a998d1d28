"""Offline scenarios: the file format, the runner, its report and timeline, and time parsing."""
