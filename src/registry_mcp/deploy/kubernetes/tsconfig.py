"""The TorchServe config of one model's pod: the shared hardened ``config.properties`` plus
which archives to load at start (``load_models=``) and their per-version settings
(``models=``). Written by the pod's init container (``modelreg k8s archives --ts-config-out``).

What TorchServe 0.12 does with these two properties (frontend ``ModelServer.initModelStore``,
``ConfigManager.getJsonIntValue``, ``ModelVersionedRefs.addVersionModel``), and so what this
module writes:

- ``load_models=<name>=<file>.mar,...`` registers the archives in the listed order, and the
  *first* version registered of a model becomes its default version. Production is therefore
  listed first: the default version is Production, not whatever the model store lists first
  (``--models all``).
- ``models={"<name>": {"<version>": {...}}}`` (JSON on one line; name and version as
  registered) gives each version ``minWorkers``, ``maxWorkers``, ``batchSize``,
  ``maxBatchDelay`` and ``responseTimeout``. A value ``<= 0`` counts as unset there (the
  server default applies), so none is written. ``defaultVersion`` and ``marName`` are only
  read when TorchServe restores a snapshot, not for ``load_models``; they are written anyway
  so the JSON states the intent in TorchServe's documented form (``defaultVersion`` true only
  for Production).

Workers follow ``modelreg serve``'s rule (``serving.rollout.DesiredModel.workers``): Production
gets models.yaml's ``torchserve.workers``, every other version the standby workers; all
versions get models.yaml's batch size and delay. models.yaml has no response timeout: every
version gets the shared config's ``default_response_timeout``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from registry_mcp.domain.errors import ErrorCode, RegistryError
from serving.config import ModelConfig
from serving.kserve.preload import LoadPlan
from serving.naming import is_archive_file_name, served_name, ts_version
from serving.rollout import DesiredModel

HEADER = "# Written by `modelreg k8s archives`: the shared config + load_models and models"
_PROPERTY = re.compile(r"^([A-Za-z0-9_.]+)=(.*)$")
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")


def _invalid(message: str) -> RegistryError:
    return RegistryError(ErrorCode.INVALID_INPUT, message)


def read_properties(text: str) -> dict[str, str]:
    """``key=value`` lines of a config.properties as serving.local writes them (one property
    per line, no continuation lines), with Java's escapes undone."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _PROPERTY.match(line.strip())
        if match is None:
            continue
        found[match.group(1)] = _ESCAPE.sub(_unescape, match.group(2))
    return found


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    return chr(int(code[1:], 16)) if len(code) == 5 and code[0] == "u" else code


def shared_model_store(shared: str) -> Path:
    store = read_properties(shared).get("model_store")
    if not store:
        raise _invalid("the TorchServe config has no model_store; it is not serving.local's")
    return Path(store)


def read_base(path: Path, store: Path, model: ModelConfig) -> str:
    """The shared config at ``path``, checked: it serves ``store`` and has the shape
    ``pod_properties`` extends (so a bad base fails before any archive is built)."""
    try:
        shared = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _invalid(f"cannot read {path}: {exc.strerror or exc}") from None
    served = shared_model_store(shared)
    if served.resolve() != store.resolve():
        raise _invalid(
            f"{path} serves the model store {served}, but the archives go to {store}; "
            "TorchServe would not find them"
        )
    pod_properties(shared, model, {}, None)
    return shared


def pod_properties(
    shared: str, model: ModelConfig, archives: Mapping[int, str], production: int | None
) -> str:
    """The pod's config.properties: ``shared`` with ``load_models=`` set to ``archives``
    (version -> .mar file name in the model store; Production first) and ``models=``."""
    if production is not None and production not in archives:
        loaded = ",".join(str(v) for v in sorted(archives)) or "none"
        raise _invalid(
            f"Production version {production} of {model.name!r} is not among the loaded "
            f"versions ({loaded}); the versions ConfigMap must list it in VERSIONS"
        )
    for version, file_name in archives.items():
        if not is_archive_file_name(file_name):
            raise _invalid(f"archive {file_name!r} of v{version} is not a bare .mar file name")
    properties = read_properties(shared)
    for owned in ("models", "model_snapshot"):
        if owned in properties:
            raise _invalid(f"the shared TorchServe config already sets {owned}=; remove it")
    timeout = properties.get("default_response_timeout", "")
    if not timeout.isdigit() or int(timeout) < 1:
        raise _invalid("the shared TorchServe config has no positive default_response_timeout")

    name = served_name(model.name)
    order = sorted(archives, key=lambda v: (v != production, v))  # Production first
    settings = model.torchserve
    desired = DesiredModel(name=model.name, production=production, serving=settings)
    versions: dict[str, dict[str, object]] = {}
    for version in order:
        low, high = desired.workers(version)
        versions[ts_version(version)] = {
            "defaultVersion": version == production,
            "marName": archives[version],
            # TorchServe reads 0 as "unset" (its default applies): write the nearest it takes.
            "minWorkers": max(low, 1),
            "maxWorkers": max(high, 1),
            "batchSize": settings.batch_size,
            "maxBatchDelay": max(settings.max_batch_delay_ms, 1),
            "responseTimeout": int(timeout),
        }
    # Served names, file names and numbers only: no character a .properties value escapes.
    models = json.dumps({name: versions} if versions else {}, separators=(",", ":"))
    load = ",".join(f"{name}={archives[v]}" for v in order)

    lines, replaced = [HEADER], 0
    for line in shared.splitlines():
        if line.strip().startswith("load_models="):
            line, replaced = f"load_models={load}", replaced + 1
        lines.append(line)
    if replaced != 1:  # the shared config changed shape: fail loudly, not a silent default
        raise _invalid(f"expected one load_models= line in the shared config, found {replaced}")
    lines.append(f"models={models}")
    return "\n".join(lines) + "\n"


def write_text_atomically(text: str, out: Path) -> None:
    """Write ``out`` through a temporary file renamed over it (never half a config)."""
    if not out.parent.is_dir():
        raise _invalid(f"cannot write {out}: directory {out.parent} does not exist")
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _invalid(f"cannot write {out}: {exc.strerror or exc}") from None


# A KServe predictor's init container writes a load plan instead (serving.kserve.preload).
def kserve_load_plan(model: str, archives: Mapping[int, str], default: int | None) -> LoadPlan:
    """A KServe predictor's load plan: the archives built, Production the default version."""
    return LoadPlan(
        model=served_name(model),
        default=None if default is None else str(default),
        versions={str(version): archive for version, archive in sorted(archives.items())},
    )
