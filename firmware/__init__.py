"""The pump firmware (sans-I/O): therapy engine, safety, alarms, log, NVM, command handlers."""
