"""MCP overhead: a read-only tool over stdio vs the same core calls in-process, same run.

Rows per tool, measured side by side:
  core                      the registry calls the tool makes, in this process
  mcp_stdio                 the tool through `modelreg mcp` over stdio (a real client session)
  client_schema_validation  the share of mcp_stdio the SDK client spends validating the
                            result against the output schema (the client's cost, not ours)
  sdk_noop_stdio            a no-op tool on the bare mcp SDK over stdio: the transport floor
  sdk_same_result_stdio     a tool on the bare mcp SDK over stdio that returns, without any
                            work, the very result our tool returned (same pydantic model, so
                            the same output schema as the SDK writes it): the floor of
                            delivering that result to this client

The four are timed round-robin, one call of each per round, so machine noise hits them
alike. ``ratio_to_sdk_noop`` is what the tool adds over its core calls divided by the bare
SDK's no-op round trip from the same rounds (target: at most 1.2).
``ratio_to_sdk_same_result`` divides the same by the bare SDK's round trip for the same
result: at most 1.0 means the tool layer costs no more than the SDK itself needs to hand that
result to the client (its share of ``client_schema_validation`` included).

Start-up, also round-robin: the time from spawning the server to its answer to
``initialize`` (what Claude Desktop waits for on every launch), then the latency of the first
tool call (``list_models``; the bare server's no-op), for ``modelreg mcp`` (registry opened on
a worker thread once the transport is up), the same server opening its registry on the first
call instead, and the bare SDK server. ``initialize_ratio`` divides the medians of
``modelreg mcp`` and the bare server (target: at most 1.2).

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

from bench.out_path import out_file  # noqa: E402
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
SAME_RESULT_SERVER = textwrap.dedent(
    """
    import json, sys
    from mcp.server.mcpserver import MCPServer
    from registry_mcp.mcp.tool_models import ModelInfo, ModelList

    results = json.loads(open(sys.argv[1], encoding="utf-8").read())
    listed = ModelList.model_validate(results["list_models"])
    info = ModelInfo.model_validate(results["get_model_info"])
    server = MCPServer("same-result", log_level="WARNING")

    @server.tool()
    def list_models(limit: int = 20) -> ModelList:
        return listed

    @server.tool()
    def get_model_info(model_name: str) -> ModelInfo:
        return info

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
        # What our tools answer, handed to a bare SDK server that returns it as it is.
        firsts = {tool: await session.call_tool(tool, args) for tool, args in TOOL_ARGS.items()}
        for result in firsts.values():
            assert not result.is_error, result.content
        answers = home / "same_result.json"
        answers.write_text(
            json.dumps({tool: result.structured_content for tool, result in firsts.items()})
        )
        same_params = StdioServerParameters(
            command=sys.executable, args=["-c", SAME_RESULT_SERVER, str(answers)], env=params.env
        )
        async with Client(same_params) as same:
            await timed_tools(session, noop, same, core, calls, rows)
    registry.close()
    return rows


async def timed_tools(
    session: Client,
    noop: Client,
    same: Client,
    core: dict[str, Callable[[], object]],
    calls: int,
    rows: dict[str, Any],
) -> None:
    """Each read tool against its core calls and both bare-SDK floors, round-robin."""
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

        async def same_result(tool: str = tool, args: dict[str, Any] = args) -> object:
            return await same.call_tool(tool, args)

        validation_ms.clear()
        samples = await round_robin(
            {
                "core": in_process,
                "mcp_stdio": via_mcp,
                "sdk_noop_stdio": floor,
                "sdk_same_result_stdio": same_result,
            },
            calls,
        )
        core_row, mcp_row = stats(samples["core"]), stats(samples["mcp_stdio"])
        client_validation = stats(validation_ms[-calls:])
        rows[tool] = {
            "core": core_row,
            "mcp_stdio": mcp_row,
            "client_schema_validation": client_validation,
            "sdk_noop_stdio": stats(samples["sdk_noop_stdio"]),
            "sdk_same_result_stdio": stats(samples["sdk_same_result_stdio"]),
            "added_over_core_p50_ms": mcp_row["p50_ms"] - core_row["p50_ms"],
            "added_over_core_excluding_client_validation_p50_ms": mcp_row["p50_ms"]
            - core_row["p50_ms"]
            - client_validation["p50_ms"],
        }
        added = rows[tool]["added_over_core_p50_ms"]
        rows[tool]["ratio_to_sdk_noop"] = added / rows[tool]["sdk_noop_stdio"]["p50_ms"]
        rows[tool]["ratio_to_sdk_same_result"] = (
            added / rows[tool]["sdk_same_result_stdio"]["p50_ms"]
        )


LAZY_SERVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import registry_mcp.cli.app  # what `modelreg` imports before it runs a command
    from registry_mcp.cli.mcp_commands import serve_stdio
    from registry_mcp.cli.support import Ctx
    serve_stdio(Ctx(actor_override=None, home_override=Path(sys.argv[1])), warm_up=False)
    """
)
STARTS: dict[str, str] = {
    "modelreg_mcp": "`modelreg mcp`: the registry opens on a worker thread behind initialize",
    "open_on_first_call": "the same server, the registry opened by the first tool call",
    "sdk_noop": "the bare SDK server (MCPServer, one no-op tool)",
}


async def startups(home: Path, starts: int) -> dict[str, Any]:
    """Spawn to ``initialize`` answered, then the first tool call, for each server in turn."""
    ours, noop_params = server_params(home)
    lazy = StdioServerParameters(
        command=sys.executable, args=["-c", LAZY_SERVER, str(home)], env=ours.env
    )
    servers = {"modelreg_mcp": ours, "open_on_first_call": lazy, "sdk_noop": noop_params}

    async def start(key: str) -> tuple[float, float]:
        tool, args = (
            ("noop", {}) if key == "sdk_noop" else ("list_models", TOOL_ARGS["list_models"])
        )
        started = time.perf_counter()
        async with Client(servers[key]) as session:
            initialised = time.perf_counter()
            result = await session.call_tool(tool, args)
            called = time.perf_counter()
            assert not result.is_error, result.content
        return (initialised - started) * 1000, (called - initialised) * 1000

    init: dict[str, list[float]] = {key: [] for key in servers}
    first: dict[str, list[float]] = {key: [] for key in servers}
    for key in servers:  # the first start of each also warms the file cache
        await start(key)
    for _ in range(starts):
        for key in servers:
            took, call = await start(key)
            init[key].append(took)
            first[key].append(call)
    rows: dict[str, Any] = {
        key: {
            "what": STARTS[key],
            "initialize": stats(init[key]),
            "first_tool_call": stats(first[key]),
        }
        for key in servers
    }
    bare = rows["sdk_noop"]["initialize"]["p50_ms"]
    return {
        **rows,
        "initialize_ratio": rows["modelreg_mcp"]["initialize"]["p50_ms"] / bare,
        "initialize_ratio_open_on_first_call": rows["open_on_first_call"]["initialize"]["p50_ms"]
        / bare,
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
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "mcp_latency.json",
        help="The JSON to write, or a directory for mcp_latency.json in it.",
    )
    args = parser.parse_args()
    args.out = out_file(parser, args.out, "mcp_latency")
    calls, models, versions = (20, 20, 2) if args.quick else (args.calls, 200, 5)
    starts = 2 if args.quick else args.starts
    with tempfile.TemporaryDirectory(prefix="modelreg-mcp-bench-") as tmp:
        rows = anyio.run(measure, Path(tmp), calls, models, versions)
        startup = anyio.run(startups, Path(tmp), starts)
    print(f"{'tool':<16} {'row':<26} {'p50 ms':>8} {'p95 ms':>8}")
    for tool, row in rows.items():
        for key in (
            "core",
            "mcp_stdio",
            "client_schema_validation",
            "sdk_noop_stdio",
            "sdk_same_result_stdio",
        ):
            print(f"{tool:<16} {key:<26} {row[key]['p50_ms']:>8.2f} {row[key]['p95_ms']:>8.2f}")
        print(
            f"{tool:<16} added over core (p50): {row['added_over_core_p50_ms']:.2f} ms; "
            "without the client's schema validation: "
            f"{row['added_over_core_excluding_client_validation_p50_ms']:.2f} ms; "
            f"ratio to the SDK no-op round trip: {row['ratio_to_sdk_noop']:.2f}; "
            f"to the bare SDK returning the same result: {row['ratio_to_sdk_same_result']:.2f}"
        )
    print(f"{'start':<20} {'initialize p50/p95 ms':>22} {'first call p50/p95 ms':>22}")
    for key in STARTS:
        init, first = startup[key]["initialize"], startup[key]["first_tool_call"]
        print(
            f"{key:<20} {init['p50_ms']:>10.1f} {init['p95_ms']:>10.1f}  "
            f"{first['p50_ms']:>10.1f} {first['p95_ms']:>10.1f}"
        )
    print(
        f"initialize ratio to the bare SDK (p50): modelreg mcp {startup['initialize_ratio']:.2f}; "
        f"opened on first call {startup['initialize_ratio_open_on_first_call']:.2f}"
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
