"""The pod's TorchServe config (deploy/kubernetes/tsconfig.py), as a pure function: the shared
config + ``load_models`` (Production first) + ``models`` (models.yaml's settings per version).
tests/k8s/test_torchserve_pod.py proves the same output against a real TorchServe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_mcp.deploy.kubernetes.render import torchserve_properties
from registry_mcp.deploy.kubernetes.tsconfig import (
    pod_properties,
    read_base,
    read_properties,
    shared_model_store,
)
from registry_mcp.deploy.kubernetes.workloads import MODEL_STORE
from registry_mcp.domain.errors import ErrorCode, RegistryError
from serving.config import ModelConfig, parse_models_config
from serving.naming import served_name
from tests.k8s.conftest import packaged

SHARED = torchserve_properties()  # what the torchserve-config ConfigMap holds
ARCHIVES = {1: "m-v1-aaaaaaaaaaaa.mar", 2: "m-v2-bbbbbbbbbbbb.mar", 3: "m-v3-cccccccccccc.mar"}


def model(torchserve: str, name: str = "mnist-classifier") -> ModelConfig:
    text = f"""
models:
  "{name}":
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 50
    torchserve: {torchserve}
"""
    return parse_models_config(text, source="test").get(name)


def written(
    config: ModelConfig, archives: dict[int, str], production: int | None
) -> dict[str, str]:
    return read_properties(pod_properties(SHARED, config, archives, production))


def test_production_is_listed_first_and_alone_is_the_default() -> None:
    config = model("{workers: {min: 2, max: 3}, batch_size: 8, max_batch_delay_ms: 10}")
    props = written(config, ARCHIVES, production=2)
    assert props["load_models"] == (
        "mnist-classifier=m-v2-bbbbbbbbbbbb.mar,"
        "mnist-classifier=m-v1-aaaaaaaaaaaa.mar,"
        "mnist-classifier=m-v3-cccccccccccc.mar"
    )
    models = json.loads(props["models"])
    assert list(models) == ["mnist-classifier"]
    versions = models["mnist-classifier"]
    assert list(versions) == ["2", "1", "3"]
    assert versions["2"] == {
        "defaultVersion": True,
        "marName": "m-v2-bbbbbbbbbbbb.mar",
        "minWorkers": 2,
        "maxWorkers": 3,
        "batchSize": 8,
        "maxBatchDelay": 10,
        "responseTimeout": 120,  # the shared default_response_timeout
    }
    for standby in ("1", "3"):  # one worker each, like `modelreg serve` (rollout)
        assert versions[standby]["defaultVersion"] is False
        assert (versions[standby]["minWorkers"], versions[standby]["maxWorkers"]) == (1, 1)
        assert (versions[standby]["batchSize"], versions[standby]["maxBatchDelay"]) == (8, 10)


def test_everything_else_of_the_shared_config_is_kept() -> None:
    config = packaged().get("mnist-classifier")
    text = pod_properties(SHARED, config, ARCHIVES, 1)
    shared, pod = read_properties(SHARED), read_properties(text)
    assert set(pod) == set(shared) | {"models"}
    assert {k: v for k, v in pod.items() if k not in ("load_models", "models")} == {
        k: v for k, v in shared.items() if k != "load_models"
    }
    assert pod["disable_token_authorization"] == "true"  # the NetworkPolicy is the boundary
    assert text.count("\nload_models=") == 1
    assert text.endswith("}\n")
    # The packaged models.yaml's values reach the per-version settings.
    settings = config.torchserve
    production = json.loads(pod["models"])["mnist-classifier"]["1"]
    assert production["batchSize"] == settings.batch_size
    # TorchServe's config file reads a delay <= 0 as unset (its 100 ms default): 0 goes as 1,
    # which batch size 1 never waits for anyway.
    assert production["maxBatchDelay"] == max(settings.max_batch_delay_ms, 1)
    assert (production["minWorkers"], production["maxWorkers"]) == (
        settings.workers.min,
        settings.workers.max,
    )


def test_without_production_no_version_claims_the_default() -> None:
    props = written(model("{batch_size: 2}"), {3: ARCHIVES[3], 1: ARCHIVES[1]}, production=None)
    assert (
        props["load_models"]
        == "mnist-classifier=m-v1-aaaaaaaaaaaa.mar,mnist-classifier=m-v3-cccccccccccc.mar"
    )
    versions = json.loads(props["models"])["mnist-classifier"]
    assert [v["defaultVersion"] for v in versions.values()] == [False, False]


def test_nothing_to_serve_loads_nothing() -> None:
    props = written(model("{}"), {}, production=None)
    assert props["load_models"] == ""
    assert props["models"] == "{}"


def test_values_torchserve_reads_as_unset_are_written_as_the_nearest_it_takes() -> None:
    # TorchServe's startup config treats 0 as "not given" (it would fall back to 1 worker
    # and a 100 ms delay): the nearest value it accepts is written instead.
    config = model("{workers: {min: 0, max: 0}, max_batch_delay_ms: 0}")
    entry = json.loads(written(config, {1: ARCHIVES[1]}, 1)["models"])["mnist-classifier"]["1"]
    assert (entry["minWorkers"], entry["maxWorkers"], entry["maxBatchDelay"]) == (1, 1, 1)


def test_names_are_torchserve_names() -> None:
    name = "digits classifier"
    props = written(model("{}", name=name), {1: ARCHIVES[1]}, 1)
    served = served_name(name)
    assert served != name
    assert props["load_models"] == f"{served}={ARCHIVES[1]}"
    assert list(json.loads(props["models"])) == [served]


@pytest.mark.parametrize(
    ("shared", "archives", "production", "fragment"),
    [
        (SHARED, {1: ARCHIVES[1]}, 2, "Production version 2"),
        (SHARED, {1: "../evil.mar"}, 1, "not a bare .mar file name"),
        (SHARED.replace("load_models=\n", ""), {1: ARCHIVES[1]}, 1, "one load_models= line"),
        (SHARED + "models={}\n", {1: ARCHIVES[1]}, 1, "already sets models="),
        (SHARED + "model_snapshot={}\n", {}, None, "already sets model_snapshot="),
        (
            SHARED.replace("default_response_timeout=120", "default_response_timeout=0"),
            {},
            None,
            "default_response_timeout",
        ),
    ],
)
def test_refused(
    shared: str, archives: dict[int, str], production: int | None, fragment: str
) -> None:
    with pytest.raises(RegistryError) as refused:
        pod_properties(shared, model("{}"), archives, production)
    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert fragment in refused.value.message


def test_the_rendered_shared_config_serves_the_pods_model_store(tmp_path: Path) -> None:
    assert shared_model_store(SHARED) == Path(MODEL_STORE)
    base = tmp_path / "config.properties"
    base.write_text(SHARED)
    assert read_base(base, Path(MODEL_STORE), model("{}")) == SHARED
    with pytest.raises(RegistryError) as elsewhere:
        read_base(base, tmp_path / "store", model("{}"))
    assert "would not find them" in elsewhere.value.message
    with pytest.raises(RegistryError) as missing:
        read_base(tmp_path / "missing.properties", Path(MODEL_STORE), model("{}"))
    assert "cannot read" in missing.value.message


def test_properties_escapes_are_undone() -> None:
    props = read_properties("# c\nallowed_urls=file:///a\\\\-b/x\\u00e9\n")
    assert props == {"allowed_urls": "file:///a\\-b/x\u00e9"}
