"""configs/models.yaml: the shipped file is valid; every error names file, model and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.config import ModelConfig, load_models_config, parse_models_config
from serving.errors import ServingError, ServingErrorCode

SHIPPED = Path(__file__).resolve().parents[2] / "configs" / "models.yaml"

VALID = """
models:
  m:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 20
"""


def error_of(text: str) -> ServingError:
    with pytest.raises(ServingError) as caught:
        parse_models_config(text, source="conf/models.yaml")
    assert caught.value.code is ServingErrorCode.CONFIG_INVALID
    assert caught.value.message.startswith("conf/models.yaml: ")
    return caught.value


def test_shipped_config_declares_the_mnist_classifier() -> None:
    config = load_models_config(SHIPPED)
    mnist = config.get("mnist-classifier")
    assert mnist.task == "classification"
    assert mnist.primary_metric == "accuracy"
    assert mnist.input_schema is not None
    assert (mnist.input_schema.n_features, mnist.input_schema.dtype) == (64, "float32")
    assert mnist.n_classes == 10
    assert mnist.torchserve.workers.max >= mnist.torchserve.workers.min >= 1


def test_unknown_models_get_the_defaults() -> None:
    config = parse_models_config(
        VALID + "defaults:\n  torchserve: {batch_size: 4}\n  kubernetes: {replicas: 3}\n"
    )
    other = config.get("never-declared")
    assert isinstance(other, ModelConfig)
    assert other.name == "never-declared"
    assert other.torchserve.batch_size == 4
    assert other.kubernetes.replicas == 3
    assert other.input_schema is None
    assert parse_models_config("").get("x").task == "classification"


def test_error_names_the_model_and_the_nested_field() -> None:
    message = error_of(VALID + "    torchserve: {workers: {min: 3, max: 1}}\n").message
    assert "model 'm'" in message
    assert "field 'torchserve.workers'" in message
    assert "max (1) must be >= min (3)" in message


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("    latency_sla_ms_typo: 3\n", "latency_sla_ms_typo"),
        ("    input_schema: {n_features: 0}\n", "input_schema.n_features"),
        ("    input_schema: {n_features: 4, dtype: float16}\n", "input_schema.dtype"),
        ("    kubernetes: {memory: lots}\n", "kubernetes.memory"),
        ("    torchserve: {batch_size: 0}\n", "torchserve.batch_size"),
        ("    pinned_versions: anyone\n", "pinned_versions"),
        ("    input_schema: {n_features: 64, row_shape: [8, 9]}\n", "input_schema"),
    ],
)
def test_invalid_fields_are_named(extra: str, field: str) -> None:
    message = error_of(VALID + extra).message
    assert f"model 'm', field '{field}'" in message


def test_missing_required_field_and_wrong_task() -> None:
    message = error_of("models:\n  m: {task: ranking, primary_metric: x}\n").message
    assert "field 'task'" in message
    assert "field 'latency_sla_ms'" in message  # all problems at once


def test_name_inside_the_entry_must_match_the_key() -> None:
    message = error_of(VALID.replace("task:", "name: other\n    task:")).message
    assert "model 'm': field 'name' is 'other'" in message


def test_n_classes_only_for_classifiers() -> None:
    text = VALID.replace("classification", "regression") + "    n_classes: 3\n"
    assert "n_classes" in error_of(text).message


def test_duplicate_model_is_refused_not_silently_overwritten() -> None:
    message = error_of(VALID + VALID.replace("models:\n", "")).message
    assert "duplicate key 'm'" in message


def test_yaml_syntax_and_shape_errors() -> None:
    assert "invalid YAML" in error_of("models: [unclosed\n").message
    assert "top level must be a mapping" in error_of("- a\n- b\n").message
    assert "field 'models'" in error_of("models: 3\n").message


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ServingError) as caught:
        load_models_config(path)
    assert caught.value.code is ServingErrorCode.CONFIG_INVALID
    assert str(path) in caught.value.message
    assert "not found" in caught.value.message


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        *[(m, "higher") for m in ("accuracy", "f1", "roc_auc", "r2")],
        *[(m, "lower") for m in ("rmse", "mae", "mse", "perplexity", "loss", "error_rate")],
        ("p95_latency_ms", "lower"),
    ],
)
def test_well_known_metrics_get_their_direction(metric: str, direction: str) -> None:
    model = parse_models_config(VALID.replace("accuracy", metric)).get("m")
    assert model.metric_direction == direction
    assert model.lower_is_better is (direction == "lower")


def test_a_declared_direction_wins_over_the_table() -> None:
    text = VALID.replace("accuracy", "error_reduction") + "    metric_direction: higher\n"
    assert parse_models_config(text).get("m").lower_is_better is False
    text = VALID + "    metric_direction: lower\n"  # odd, but the owner said so
    assert parse_models_config(text).get("m").lower_is_better is True


def test_an_unknown_metric_needs_a_declared_direction() -> None:
    # Never guessed from the name: "error_reduction" contains "error" but nothing says which
    # way is better.
    message = error_of(VALID.replace("accuracy", "error_reduction")).message
    assert "model 'm', field 'metric_direction'" in message
    assert "'error_reduction' is not a well-known metric" in message
    assert "set metric_direction: higher or lower" in message
    message = error_of(VALID + "    metric_direction: down\n").message
    assert "model 'm', field 'metric_direction'" in message


def test_defaults_carry_a_direction_to_unlisted_models() -> None:
    config = parse_models_config("defaults: {primary_metric: pinball, metric_direction: lower}\n")
    assert config.get("unlisted").lower_is_better is True
    assert parse_models_config("").get("unlisted").metric_direction == "higher"
    message = error_of("defaults: {primary_metric: pinball}\n").message
    assert "field 'defaults.metric_direction'" in message


def test_shipped_config_states_the_direction() -> None:
    config = load_models_config(SHIPPED)
    assert config.defaults.metric_direction == "higher"
    assert config.get("mnist-classifier").metric_direction == "higher"


# --------------------------------------------------------------------- routes, resources, tasks

ROUTED = (
    VALID
    + """  large:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 200
routes:
  digits:
    default: m
    rules:
      - {kind: header, header: X-Priority, equals: critical, model: large}
      - {kind: field, field: meta.tier, equals: gold, model: large}
      - {kind: batch_at_least, rows: 32, model: {best_of_task: classification}}
      - {kind: batch_at_most, rows: 1, model: m}
"""
)


def test_routes_parse_with_ordered_rules_and_registry_targets() -> None:
    from serving.config import BestOfTask

    route = parse_models_config(ROUTED).routes["digits"]
    assert route.default == "m"
    assert [rule.kind for rule in route.rules] == [
        "header",
        "field",
        "batch_at_least",
        "batch_at_most",
    ]
    assert route.rules[2].model == BestOfTask(best_of_task="classification")
    assert parse_models_config(VALID).routes == {}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("default: m", "default: ghost"),
            "route 'digits', field 'default': model 'ghost' is not declared under `models`",
        ),
        (
            ("equals: gold, model: large", "equals: gold, model: ghost"),
            "route 'digits', field 'rules.1.model': model 'ghost' is not declared",
        ),
        (("kind: header", "kind: regex"), "route 'digits', field 'rules.0'"),
        (("kind: header", "kind: regex"), "does not match any of the expected tags"),
        (("rows: 32", "rows: 0"), "route 'digits', field 'rules.2.batch_at_least.rows'"),
        (("header: X-Priority", "header: X Priority"), "field 'rules.0.header.header'"),
        (("field: meta.tier", "field: meta..tier"), "field 'rules.1.field.field'"),
        (("best_of_task: classification", "best_of_task: ranking"), "rules.2"),
        (("  digits:", "  'bad name':"), "route 'bad name': invalid name"),
        (("    default: m\n", "    rules_typo: []\n    default: m\n"), "rules_typo"),
    ],
)
def test_bad_routes_name_the_route_and_field(change: tuple[str, str], expected: str) -> None:
    message = error_of(ROUTED.replace(*change)).message
    assert expected in message


def test_every_bad_target_is_reported_at_once() -> None:
    text = ROUTED.replace("default: m", "default: ghost").replace(
        "rows: 1, model: m}", "rows: 1, model: gone}"
    )
    message = error_of(text).message
    assert "'ghost'" in message
    assert "'gone'" in message


def test_feature_extraction_needs_no_classes() -> None:
    text = VALID.replace("classification", "feature-extraction")
    model = parse_models_config(text + "    input_schema: {n_features: 16}\n").get("m")
    assert model.task == "feature-extraction"
    assert model.n_classes is None
    assert "n_classes" in error_of(text + "    n_classes: 3\n").message


def test_kubernetes_requests_limits_gpu_and_replicas() -> None:
    text = VALID + (
        "    kubernetes:\n"
        "      replicas: 0\n"
        "      requests: {cpu: 250m, memory: 512Mi}\n"
        "      limits: {cpu: '1', memory: 1Gi}\n"
        "      gpu: 1\n"
    )
    k8s = parse_models_config(text).get("m").kubernetes
    assert (k8s.replicas, k8s.gpu) == (0, 1)
    assert (k8s.cpu, k8s.memory) == ("250m", "512Mi")
    assert (k8s.requests.cpu, k8s.requests.memory) == ("250m", "512Mi")
    assert (k8s.limits.cpu, k8s.limits.memory) == ("1", "1Gi")
    short = parse_models_config(VALID + "    kubernetes: {cpu: 500m}\n").get("m").kubernetes
    assert (short.requests.cpu, short.requests.memory) == ("500m", "1Gi")
    assert short.limits.cpu is None
    assert parse_models_config(VALID).get("m").kubernetes.requests.cpu == "1"


@pytest.mark.parametrize(
    ("kubernetes", "expected"),
    [
        (
            "{replicas: -1}",
            "field 'kubernetes.replicas': Input should be greater than or equal to 0",
        ),
        ("{gpu: -2}", "field 'kubernetes.gpu'"),
        ("{limits: {cpu: lots}}", "field 'kubernetes.limits.cpu'"),
        ("{cpu: 2, limits: {cpu: 500m}}", "limits.cpu (500m) is below the cpu request (2)"),
        ("{memory: 2Gi, limits: {memory: 1000M}}", "limits.memory (1000M) is below"),
        ("{cpu: 1, requests: {cpu: 2}}", "cpu is given twice"),
        ("{requests: {gpu: 1}}", "requests.gpu: unknown field"),
        ("{limits: {gpu: 1}}", "field 'kubernetes.limits.gpu'"),
    ],
)
def test_bad_kubernetes_resources_are_named(kubernetes: str, expected: str) -> None:
    message = error_of(VALID + f"    kubernetes: {kubernetes}\n").message
    assert "model 'm'" in message
    assert expected in message


@pytest.mark.parametrize("budget", ["0", "1.5", "-0.1", '"lots"'])
def test_an_error_budget_outside_0_1_is_refused(budget: str) -> None:
    text = f"""
models:
  m:
    task: classification
    primary_metric: accuracy
    latency_sla_ms: 50
    error_budget: {budget}
"""
    with pytest.raises(ServingError) as refused:
        parse_models_config(text, source="models.yaml")
    assert "error_budget" in str(refused.value)


def test_the_error_budget_defaults_to_one_percent() -> None:
    config = parse_models_config(
        "models:\n  m: {task: classification, primary_metric: accuracy, latency_sla_ms: 5}\n"
    )
    assert config.get("m").error_budget == 0.01
    assert config.get("unlisted").error_budget == 0.01


def test_pinned_versions_default_to_admin_and_reach_unlisted_models() -> None:
    config = parse_models_config(
        VALID + "    pinned_versions: approved\n" + "defaults:\n  pinned_versions: production\n"
    )
    assert config.get("m").pinned_versions == "approved"
    assert config.get("unlisted").pinned_versions == "production"
    assert parse_models_config(VALID).get("m").pinned_versions == "admin"
    assert load_models_config(SHIPPED).get("mnist-classifier").pinned_versions == "admin"


def test_a_row_shape_must_hold_n_features() -> None:
    config = parse_models_config(VALID + "    input_schema: {n_features: 64, row_shape: [8, 8]}\n")
    schema = config.get("m").input_schema
    assert schema is not None
    assert schema.row_shape == (8, 8)
    message = error_of(VALID + "    input_schema: {n_features: 64, row_shape: [8, 9]}\n").message
    assert "row_shape [8, 9] holds 72 values, n_features is 64" in message


def test_backend_defaults_to_torchserve_and_takes_kserve() -> None:
    config = parse_models_config(
        VALID
        + "  k:\n"
        + "\n".join(VALID.splitlines()[3:]).replace("    task", "    backend: kserve\n    task", 1)
        + "\n"
    )
    assert config.get("m").backend == "torchserve"
    assert config.get("k").backend == "kserve"
    assert config.get("undeclared").backend == "torchserve"
    kserve_default = parse_models_config("defaults:\n  backend: kserve\n")
    assert kserve_default.get("undeclared").backend == "kserve"


def test_an_unknown_backend_is_named_with_the_choices() -> None:
    message = error_of(VALID + "    backend: triton\n").message
    assert "model 'm', field 'backend'" in message
    assert "'torchserve' or 'kserve'" in message


@pytest.mark.parametrize(
    "text",
    [
        VALID + "    backend: kserve\n    torchserve: {batch_size: 8}\n",
        "defaults:\n  backend: kserve\n  torchserve: {workers: {min: 2, max: 2}}\n",
    ],
)
def test_torchserve_settings_on_a_kserve_model_are_refused(text: str) -> None:
    message = error_of(text).message
    assert "torchserve settings (workers, batching) do not apply to backend: kserve" in message
    assert "remove the `torchserve:` block" in message


def test_the_router_keeps_two_requests_out_per_worker_that_can_answer() -> None:
    config = parse_models_config(
        VALID
        + "    torchserve: {workers: {min: 1, max: 3}, batch_size: 1}\n"
        + "  k:\n    task: classification\n    primary_metric: accuracy\n"
        + "    latency_sla_ms: 20\n    backend: kserve\n"
    )
    assert config.get("m").router_in_flight() == 6  # 2 x 3 workers on the local TorchServe
    assert config.get("m").router_in_flight(pods=4) == 24  # x 4 pods behind a Service
    assert config.get("m").router_in_flight(pods=0) == 6  # a parked model: never below one pod
    assert config.get("k").router_in_flight() is None  # KServe: requests are never merged
