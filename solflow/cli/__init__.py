"""The ``solflow`` command line: one module per subcommand, registered in ``solflow.cli.main``."""
