"""MCP overhead: a read-only tool over stdio vs the same core calls in-process, same run.

Rows per tool, measured side by side:
  core                      the registry calls the tool makes, in this process
  mcp_stdio                 the tool through `modelreg mcp` over stdio (a real client session)
  client_schema_validation  the share of mcp_stdio the SDK client spends validating the
                            result against the output schema (the client's cost, not ours)
  sdk_noop_stdio            a no-op tool on the bare mcp SDK over stdio: the transport floor

The three are timed round-robin, one call of each per round, so machine noise hits them
alike. ``ratio_to_sdk_noop`` is what the tool adds over its core calls divided by the bare
SDK's no-op round trip from the same rounds (target: at most 1.2).

Start-up, also round-robin: the time from spawning the server to its answer to
``initialize`` (what Claude Desktop waits for on every launch), ``modelreg mcp`` against the
bare SDK server; ``initialize_ratio`` divides their medians (target: at most 1.2).

Prints p50/p95 and writes JSON under bench/results/.

    python bench/mcp_latency.py [--calls 300] [--starts 15] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402

from bench.registry_scale import seed  # noqa: E402
from registry_mcp.core.registry import Registry  # noqa: E402
from registry_mcp.store.settings import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODELREG = str(Path(sys.executable).with_name("modelreg"))
NOOP_SERVER = textwrap.dedent(
    """
    from mcp.server.mcpserver import MCPServer
    server = MCPServer("noop", log_level="WARNING")

    @server.tool()
    def noop() -> str:
        return "ok"

    server.run()
    """
)


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "n": len(ordered),
    }


def core_calls(registry: Registry) -> dict[str, Callable[[], object]]:
    """The registry calls each tool makes, in this process."""

    def list_models() -> object:
        page = registry.list_models(limit=20)
        pairs = [(m.name, m.production_version or m.latest_version or 1) for m in page.items]
        cards = registry.cards_for(pairs)
        return [registry.policy(m.name) for m in page.items], cards

    def get_model_info() -> object:
        detail = registry.get_model("model-00007", limit=10)
        version = detail.model.production_version or detail.model.latest_version
        assert version is not None
        info = next(v for v in detail.versions.items if v.version == version)
        registry.policy(info.name)
        return registry.audit_log(model="model-00007", limit=5)

    return {"list_models": list_models, "get_model_info": get_model_info}


TOOL_ARGS: dict[str, dict[str, Any]] = {
    "list_models": {"limit": 20},
    "get_model_info": {"model_name": "model-00007"},
}


async def round_robin(
    fns: dict[str, Callable[[], Awaitable[object]]], calls: int
) -> dict[str, list[float]]:
    """Each function ``calls`` times, one call of each per round (after a warm-up)."""
    for _ in range(min(20, calls)):
        for fn in fns.values():
            await fn()
    samples: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(calls):
        for key, fn in fns.items():
            started = time.perf_counter()
            await fn()
            samples[key].append((time.perf_counter() - started) * 1000)
    return samples


async def measure(home: Path, calls: int, models: int, versions: int) -> dict[str, Any]:
    settings = Settings(home=home)
    registry = Registry.open(settings)
    seed(registry, models, versions)
    rows: dict[str, Any] = {}
    core = core_calls(registry)
    params, noop_params = server_params(home)
    async with Client(params) as session, Client(noop_params) as noop:
        # The SDK's client validates every structured result against the tool's output
        # schema with `jsonschema`; time that share separately: it is the client's cost.
        validation_ms: list[float] = []
        validate = session.session.validate_tool_result

        async def timed_validate(name: str, result: Any) -> None:
            started = time.perf_counter()
            await validate(name, result)
            validation_ms.append((time.perf_counter() - started) * 1000)

        session.session.validate_tool_result = timed_validate  # type: ignore[method-assign]
        for tool, args in TOOL_ARGS.items():
            result = await session.call_tool(tool, args)
            assert not result.is_error, result.content

            async def in_process(fn: Callable[[], object] = core[tool]) -> object:
                return fn()

            async def via_mcp(tool: str = tool, args: dict[str, Any] = args) -> object:
                return await session.call_tool(tool, args)

            async def floor() -> object:
                return await noop.call_tool("noop", {})

            validation_ms.clear()
            samples = await round_robin(
                {"core": in_process, "mcp_stdio": via_mcp, "sdk_noop_stdio": floor}, calls
            )
            core_row, mcp_row = stats(samples["core"]), stats(samples["mcp_stdio"])
            client_validation = stats(validation_ms[-calls:])
            rows[tool] = {
                "core": core_row,
                "mcp_stdio": mcp_row,
                "client_schema_validation": client_validation,
                "sdk_noop_stdio": stats(samples["sdk_noop_stdio"]),
                "added_over_core_p50_ms": mcp_row["p50_ms"] - core_row["p50_ms"],
                "added_over_core_excluding_client_validation_p50_ms": mcp_row["p50_ms"]
                - core_row["p50_ms"]
                - client_validation["p50_ms"],
            }
            rows[tool]["ratio_to_sdk_noop"] = (
                rows[tool]["added_over_core_p50_ms"] / rows[tool]["sdk_noop_stdio"]["p50_ms"]
            )
    registry.close()
    return rows


async def startups(home: Path, starts: int) -> dict[str, Any]:
    """Spawn to ``initialize`` answered, ``modelreg mcp`` and the bare SDK server in turn."""
    params, noop_params = server_params(home)

    async def start(server: StdioServerParameters) -> float:
        started = time.perf_counter()
        async with Client(server):
            elapsed = (time.perf_counter() - started) * 1000
        return elapsed

    samples: dict[str, list[float]] = {"modelreg_mcp": [], "sdk_noop": []}
    await start(params)  # the first start also warms the file cache for both
    await start(noop_params)
    for _ in range(starts):
        samples["modelreg_mcp"].append(await start(params))
        samples["sdk_noop"].append(await start(noop_params))
    ours, bare = stats(samples["modelreg_mcp"]), stats(samples["sdk_noop"])
    return {
        "modelreg_mcp": ours,
        "sdk_noop": bare,
        "initialize_ratio": ours["p50_ms"] / bare["p50_ms"],
    }


def server_params(home: Path) -> tuple[StdioServerParameters, StdioServerParameters]:
    """``modelreg mcp`` on ``home`` and the bare SDK no-op server, as stdio servers."""
    params = StdioServerParameters(
        command=MODELREG,
        args=["--home", str(home), "mcp"],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "MODELREG_ACTOR": "bench",
            # A run against another source tree of the project serves that tree, too.
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        },
    )
    return params, StdioServerParameters(command=sys.executable, args=["-c", NOOP_SERVER])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--starts", type=int, default=15, help="Server starts per side.")
    parser.add_argument(
        "--quick", action="store_true", help="A smoke run: 20 models, 20 calls (not timed)."
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "mcp_latency.json")
    args = parser.parse_args()
    calls, models, versions = (20, 20, 2) if args.quick else (args.calls, 200, 5)
    starts = 2 if args.quick else args.starts
    with tempfile.TemporaryDirectory(prefix="modelreg-mcp-bench-") as tmp:
        rows = anyio.run(measure, Path(tmp), calls, models, versions)
        startup = anyio.run(startups, Path(tmp), starts)
    print(f"{'tool':<16} {'row':<26} {'p50 ms':>8} {'p95 ms':>8}")
    for tool, row in rows.items():
        for key in ("core", "mcp_stdio", "client_schema_validation", "sdk_noop_stdio"):
            print(f"{tool:<16} {key:<26} {row[key]['p50_ms']:>8.2f} {row[key]['p95_ms']:>8.2f}")
        print(
            f"{tool:<16} added over core (p50): {row['added_over_core_p50_ms']:.2f} ms; "
            "without the client's schema validation: "
            f"{row['added_over_core_excluding_client_validation_p50_ms']:.2f} ms; "
            f"ratio to the SDK no-op round trip: {row['ratio_to_sdk_noop']:.2f}"
        )
    for key in ("modelreg_mcp", "sdk_noop"):
        print(
            f"{'initialize':<16} {key:<26} {startup[key]['p50_ms']:>8.1f} "
            f"{startup[key]['p95_ms']:>8.1f}"
        )
    print(
        f"{'initialize':<16} ratio modelreg mcp / bare SDK (p50): {startup['initialize_ratio']:.2f}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "mcp_latency",
                "calls": calls,
                "results": rows,
                "initialize": {"starts": starts, **startup},
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
