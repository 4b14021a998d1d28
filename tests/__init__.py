"""The test suites, one folder per part (unit, property, integration over real ptys, campaigns)."""
