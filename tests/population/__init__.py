"""Populations of virtual patients: the file format, runs on every backend, statistics."""
