"""The generated Lua dissector, checked against the catalog and a real tshark."""
