"""The ``pumpctl`` subcommands, one module per family (session, therapy, pump, alarms, logs)."""
