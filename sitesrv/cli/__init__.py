"""The `sitesrv` command line: one module per command group (`main.py` holds the group)."""
