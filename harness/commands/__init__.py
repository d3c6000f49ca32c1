"""The command line's top layer: one module per stage with `register(subparsers)`; nothing below imports it."""
