"""What models.yaml asks of the hardware, per model: local TorchServe workers and batching,
Kubernetes replicas, CPU/memory requests and limits, GPUs; and the totals over all replicas.

Read from the models config only: no registry, no cluster.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from serving.config import ModelConfig, ModelsConfig, Task, cpu_millicores, memory_bytes


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class LocalPlan(_Frozen):
    min_workers: int
    max_workers: int
    batch_size: int
    max_batch_delay_ms: int


class KubernetesPlan(_Frozen):
    replicas: int
    cpu_request: str
    cpu_limit: str | None = Field(description="None: no limit (the pod may burst).")
    memory_request: str
    memory_limit: str | None
    gpu: int = Field(description="Whole GPUs per pod.")


class ModelPlan(_Frozen):
    model: str
    task: Task
    latency_sla_ms: float
    local: LocalPlan
    kubernetes: KubernetesPlan


class PlanTotals(_Frozen):
    """Sums over every replica of every model (what the cluster must schedule)."""

    replicas: int
    cpu_request_millicores: float
    memory_request_bytes: int
    gpu: int
    max_local_workers: int = Field(description="Production workers a local TorchServe may run.")


class CapacityPlan(_Frozen):
    models: list[ModelPlan]
    totals: PlanTotals
    defaults: ModelPlan = Field(description="What a model not listed in models.yaml gets.")


def model_plan(config: ModelConfig) -> ModelPlan:
    ts, k8s = config.torchserve, config.kubernetes
    return ModelPlan(
        model=config.name,
        task=config.task,
        latency_sla_ms=config.latency_sla_ms,
        local=LocalPlan(
            min_workers=ts.workers.min,
            max_workers=ts.workers.max,
            batch_size=ts.batch_size,
            max_batch_delay_ms=ts.max_batch_delay_ms,
        ),
        kubernetes=KubernetesPlan(
            replicas=k8s.replicas,
            cpu_request=k8s.cpu,
            cpu_limit=k8s.limits.cpu,
            memory_request=k8s.memory,
            memory_limit=k8s.limits.memory,
            gpu=k8s.gpu,
        ),
    )


def capacity_plan(config: ModelsConfig) -> CapacityPlan:
    plans = [model_plan(config.models[name]) for name in sorted(config.models)]
    totals = PlanTotals(
        replicas=sum(p.kubernetes.replicas for p in plans),
        cpu_request_millicores=sum(
            p.kubernetes.replicas * cpu_millicores(p.kubernetes.cpu_request) for p in plans
        ),
        memory_request_bytes=sum(
            p.kubernetes.replicas * memory_bytes(p.kubernetes.memory_request) for p in plans
        ),
        gpu=sum(p.kubernetes.replicas * p.kubernetes.gpu for p in plans),
        max_local_workers=sum(p.local.max_workers for p in plans),
    )
    return CapacityPlan(models=plans, totals=totals, defaults=model_plan(config.get("(defaults)")))
