"""``python -m hw_sim.cli``: the ``vpump`` command without its console script."""

from hw_sim.cli.main import main

if __name__ == "__main__":
    main()
