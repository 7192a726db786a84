"""`python -m registry_mcp.cli` = `modelreg` (how `serve up` starts the controller)."""

from registry_mcp.cli.app import main

main()
