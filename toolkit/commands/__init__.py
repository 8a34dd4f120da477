"""One module per ``hdnnp`` subcommand; each defines ``register(subparsers)``."""
