"""The command-line subcommands, one module each; cli.py only dispatches to them."""
