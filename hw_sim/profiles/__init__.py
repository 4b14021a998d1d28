"""Device profiles: the TOML files of the numbers we chose for each model, and their loader."""
