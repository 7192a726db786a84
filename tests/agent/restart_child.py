"""Run as its own process: propose a promotion, then exit with the approval pending.

python -m tests.agent.restart_child HOME ARTIFACT_ROOT CHECKPOINT THREAD
"""

from __future__ import annotations

import os

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

import sys
from pathlib import Path

import anyio

from registry_mcp.core.registry import Registry
from registry_mcp.mcp.server import build_server
from registry_mcp.store.settings import Settings
from tests.agent.conftest import APPROVER, open_agent


async def main(home: str, artifacts: str, checkpoint: str, thread: str) -> None:
    registry = Registry.open(Settings(home=Path(home), actor="tester", artifact_root=artifacts))
    try:
        server = build_server(registry, approver=APPROVER)
        async with open_agent(server, Path(checkpoint), thread=thread) as agent:
            result = await agent.conversation.ask("promote digits v3 to production")
            assert result.approval is not None
            print(f"PENDING {result.approval.proposal.summary}")
    finally:
        registry.close()


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:5])
