"""`python -m registry_mcp.cli` = `modelreg` (how `serve up` starts the guard watcher)."""

from registry_mcp.cli.app import main

main()
