"""`modelreg k8s render|archives|diff` and `modelreg tf vars`: the serving platform as code.
One owner each: the kustomize tree under k8s/ holds everything but version data; Terraform
(terraform/, its tfvars from `tf vars`) holds each model's desired versions and the router's
table. `k8s diff` compares the registry with Terraform's side (the tfvars, or the live
ConfigMaps)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from registry_mcp.cli.support import Ctx, get_ctx

if TYPE_CHECKING:
    from registry_mcp.core.registry import Registry
    from registry_mcp.deploy.kubernetes.desired import DesiredVersions
    from serving.config import ModelsConfig

k8s_app = typer.Typer(
    help="Kubernetes manifests (kustomize) from models.yaml and the registry.",
    no_args_is_help=True,
)
tf_app = typer.Typer(help="Terraform inputs from the registry.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
NoRegistryOpt = Annotated[
    bool,
    typer.Option(
        "--no-registry",
        help="Do not read the registry: every model without versions (the tree in the repo).",
    ),
]
AllowLocalOpt = Annotated[
    bool,
    typer.Option(
        "--allow-local-artifacts",
        help="Accept versions stored under file:// (pods cannot fetch them): for output that "
        "is only validated offline, never for a cluster.",
    ),
]
DRIFT_EXIT = 3
TFVARS = Path("terraform/model_versions.auto.tfvars.json")


def _state(
    ctx: typer.Context, no_registry: bool, *, allow_local: bool = True
) -> tuple[Ctx, ModelsConfig, DesiredVersions, list[str]]:
    """The models file, the platform's models and their desired versions; unless
    ``allow_local``, refuse versions whose artifacts pods could not fetch (file://)."""
    from registry_mcp.deploy.kubernetes.desired import (
        DesiredVersions,
        desired_from_registry,
        platform_models,
    )
    from registry_mcp.store.models_file import load_models_file

    state = get_ctx(ctx)
    config = load_models_file(state.settings()).config
    registry: Registry | None = None if no_registry else state.registry()
    models = platform_models(config, registry)
    if registry is None:
        return state, config, DesiredVersions(), models
    desired = desired_from_registry(registry, models)
    if not allow_local:
        from registry_mcp.deploy.kubernetes.fetchable import require_fetchable

        require_fetchable(registry, desired, models)
    return state, config, desired, models


@k8s_app.command("render")
def render(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory of the kustomize tree.", file_okay=False)
    ] = Path("k8s"),
    no_registry: NoRegistryOpt = False,
    allow_local_artifacts: AllowLocalOpt = False,
) -> None:
    """Write base/ and overlays cpu and gpu: TorchServe per model (models.yaml's and the
    registry's models with a version), the router, MCP, MLflow and PostgreSQL. No version
    data: the versions and the router's table are Terraform's (`modelreg tf vars`)."""
    from registry_mcp.deploy.kubernetes.render import render_tree
    from registry_mcp.domain.errors import ErrorCode, RegistryError

    state, config, _, models = _state(ctx, no_registry, allow_local=allow_local_artifacts)
    tree = render_tree(config, models)
    try:
        written = tree.write(out)
    except OSError as exc:
        raise RegistryError(
            ErrorCode.INVALID_INPUT, f"cannot write under {out}: {exc.strerror or exc}"
        ) from None
    state.console.print(
        f"Wrote {len(written)} files under {out} (models: {', '.join(models) or 'none'}; "
        "versions and the router's table are Terraform's: `modelreg tf vars`)",
        soft_wrap=True,
    )
    state.console.print(f"Check: kubectl kustomize {out}/overlays/cpu", soft_wrap=True)


@k8s_app.command("archives")
def archives(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", "-m", help="Registered model name.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model store to fill.", file_okay=False)],
    versions: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated versions (e.g. 1,3; empty: none). Default: the registry's "
            "Production, previous and Staging."
        ),
    ] = None,
    production: Annotated[
        str | None,
        typer.Option(
            help="The Production version, TorchServe's default version (empty: none). "
            "Default: the registry's when --versions is not given, else none."
        ),
    ] = None,
    ts_config_out: Annotated[
        Path | None,
        typer.Option(
            help="Also write TorchServe's config here: --ts-config-base + load_models "
            "(Production first) + models (workers and batching of models.yaml).",
            dir_okay=False,
        ),
    ] = None,
    ts_config_base: Annotated[
        Path | None,
        typer.Option(
            help="The shared config.properties (`modelreg k8s render`'s) to start from; its "
            "model_store must be --out.",
            dir_okay=False,
        ),
    ] = None,
    kserve_load_out: Annotated[
        Path | None,
        typer.Option(
            help="Also write a KServe model server's load plan here (the archives built, "
            "Production the default): what `python -m serving.kserve.server --load` reads.",
            dir_okay=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the .mar archives a TorchServe pod or a KServe predictor loads and write its
    TorchServe config or KServe load plan (its init container runs this)."""
    from registry_mcp.cli import render as cli_render
    from registry_mcp.deploy.kubernetes import tsconfig
    from registry_mcp.deploy.kubernetes.archives import (
        build_archives,
        parse_production,
        parse_versions,
    )
    from registry_mcp.deploy.kubernetes.desired import desired_from_registry
    from registry_mcp.domain.errors import ErrorCode, RegistryError
    from registry_mcp.store.models_file import load_models_file

    state = get_ctx(ctx)
    config = load_models_file(state.settings()).config
    if (ts_config_out is None) != (ts_config_base is None):
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            "--ts-config-out and --ts-config-base go together (the config written is the "
            "base plus the models to load)",
        )
    registry = state.registry()
    if versions is None:
        registry_versions = desired_from_registry(registry, [model]).of(model)
        wanted, default = registry_versions.loaded(), registry_versions.production
    else:
        wanted, default = parse_versions(versions), None
    if production is not None:
        default = parse_production(production)
    shared = None
    if ts_config_base is not None:  # everything is checked before anything is built
        shared = tsconfig.read_base(ts_config_base, out, config.get(model))
        if ts_config_out is not None and not ts_config_out.parent.is_dir():
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"--ts-config-out {ts_config_out}: directory {ts_config_out.parent} does not exist",
            )
    if kserve_load_out is not None and not kserve_load_out.parent.is_dir():
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"--kserve-load-out {kserve_load_out}: directory {kserve_load_out.parent} "
            "does not exist",
        )
    if default is not None and default not in wanted:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"--production {default} is not among the versions to load "
            f"({','.join(map(str, wanted)) or 'none'})",
        )
    built = build_archives(registry, config, model, wanted, out)
    if ts_config_out is not None and shared is not None:
        text = tsconfig.pod_properties(
            shared, config.get(model), {b.version: b.file_name for b in built}, default
        )
        tsconfig.write_text_atomically(text, ts_config_out)
    if kserve_load_out is not None:
        plan = tsconfig.kserve_load_plan(model, {b.version: b.file_name for b in built}, default)
        tsconfig.write_text_atomically(plan.model_dump_json(indent=2) + "\n", kserve_load_out)
    if as_json:
        cli_render.print_json(state.console, built)
        return
    if not built:
        state.console.print(f"{model}: no version to serve; nothing built")
    for item in built:
        state.console.print(
            f"{item.model} v{item.version}: {out / item.file_name}"
            + (" (cached)" if item.cached else "")
            + (" (default version)" if item.version == default else "")
        )
    for written in (ts_config_out, kserve_load_out):
        if written is not None:
            state.console.print(f"Wrote {written}", soft_wrap=True)


@k8s_app.command("diff")
def diff(
    ctx: typer.Context,
    tfvars: Annotated[
        Path,
        typer.Option(
            help="Terraform's desired versions (from `modelreg tf vars`): compared, or with "
            "--kubeconfig, named in the fix.",
            dir_okay=False,
        ),
    ] = TFVARS,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            help="Compare with the live ConfigMaps model-versions-<model> Terraform applied "
            "(read-only GETs to the kubeconfig's API server).",
            dir_okay=False,
        ),
    ] = None,
    context: Annotated[
        str | None, typer.Option(help="kubeconfig context (default: its current-context).")
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(help="Namespace of the platform (default: the context's, else modelreg)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Registry vs Terraform's desired versions (the tfvars, or the live cluster); names the
    side behind and the one command that fixes it; exit 3 on drift."""
    from registry_mcp.cli import render as cli_render
    from registry_mcp.deploy.kubernetes.drift import ClusterSide, compare
    from registry_mcp.domain.errors import ErrorCode, RegistryError

    if kubeconfig is None and (context is not None or namespace is not None):
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            "--context and --namespace read a live cluster: give --kubeconfig PATH too",
        )
    if kubeconfig is None:
        from registry_mcp.deploy.kubernetes.tfvars import read_tfvars

        cluster = read_tfvars(tfvars).desired()  # checked before the registry is opened
        state, _, desired, models = _state(ctx, no_registry=False)
        side = ClusterSide(kind="tfvars", where=str(tfvars), tfvars=tfvars)
    else:
        from registry_mcp.deploy.kubernetes.live import (
            load_kubeconfig,
            open_configmaps,
            read_live,
        )
        from registry_mcp.deploy.kubernetes.render import NAMESPACE

        access = load_kubeconfig(kubeconfig, context)
        ns = namespace or access.namespace or NAMESPACE
        state, _, desired, models = _state(ctx, no_registry=False)
        with open_configmaps(access, ns) as configmaps:
            cluster = read_live(configmaps, models)
        where = f"the cluster {access.server} (namespace {ns})"
        side = ClusterSide(kind="live", where=where, tfvars=tfvars)
    report = compare(desired, cluster, side)
    if as_json:
        cli_render.print_json(state.console, report)
    elif report.in_sync:
        state.console.print(
            f"In sync: {report.source} holds the registry's versions.", soft_wrap=True
        )
    else:
        state.console.print(f"Drift between the registry and {report.source}:", soft_wrap=True)
        for item in report.drift:
            behind = "Terraform's side" if item.behind == "cluster" else "the registry"
            state.console.print(
                f"  {item.model} {item.stage}: registry {item.registry or '-'}, "
                f"Terraform {item.cluster or '-'}; {behind} is behind ({item.why}). "
                f"Fix: {item.fix}",
                soft_wrap=True,
                markup=False,
            )
    if not report.in_sync:
        raise typer.Exit(DRIFT_EXIT)


@tf_app.command("vars")
def tf_vars(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="tfvars file to write.", dir_okay=False)
    ] = TFVARS,
    no_registry: NoRegistryOpt = False,
    allow_local_artifacts: AllowLocalOpt = False,
    kserve_canary: Annotated[
        list[str] | None,
        typer.Option(
            help="MODEL=PERCENT: KServe's canaryTrafficPercent for a kserve-backed model's new "
            "predictor revision (repeatable; 0 sends every request back to the previous "
            "revision; leave it out to complete the rollout).",
        ),
    ] = None,
) -> None:
    """Write the desired state Terraform owns: the registry's versions per model (with its
    change id), models.yaml's resources, and the router's table for those versions
    (best_of_task routes resolved from the registry's cards)."""
    from registry_mcp.deploy.kubernetes.routertable import production_cards, router_table
    from registry_mcp.deploy.kubernetes.tfvars import (
        build_tfvars,
        kserve_canaries,
        parse_canary,
        read_tfvars,
        write_tfvars,
    )

    asked = dict(parse_canary(text) for text in kserve_canary or [])
    state, config, desired, models = _state(ctx, no_registry, allow_local=allow_local_artifacts)
    canaries = {}
    if asked:
        written = read_tfvars(out) if out.is_file() else None
        canaries = kserve_canaries(config, desired, models, written, asked)
    cards = None if no_registry else production_cards(state.registry(), desired, models)
    write_tfvars(build_tfvars(config, desired, models, cards, canaries), out)
    state.console.print(f"Wrote {out} ({len(models)} models)", soft_wrap=True)
    for model in models:
        versions = desired.of(model).configmap_data()
        state.console.print(
            f"  {model}: production {versions['PRODUCTION'] or '-'}, staging "
            f"{versions['STAGING'] or '-'}, previous {versions['PREVIOUS'] or '-'}"
            + (f", KServe canary {canaries[model]}%" if model in canaries else "")
        )
    omitted = router_table(config, desired, models, cards).omitted
    if omitted:
        state.console.print("Left out of the router's table:")
        for reason in omitted:
            state.console.print(f"  {reason}", soft_wrap=True, markup=False)
    state.console.print(f"Next: terraform -chdir={out.parent} apply", soft_wrap=True)
