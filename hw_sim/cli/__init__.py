"""The ``vpump`` command: the click group and one module per subcommand (and the demo)."""
