variable "models" {
  description = "Desired state per registered model: versions from the registry (modelreg tf vars), resources from models.yaml."
  type = map(object({
    version  = optional(number) # Production
    previous = optional(number) # kept warm for rollback
    staging  = optional(number)
    replicas = number
    cpu      = string
    memory   = string
    gpu      = number
    # The registry change these versions come from (its audit id), for `modelreg k8s diff`.
    change_id = optional(number)
    # models.yaml's backend: torchserve (Deployment ts-<model>) or kserve (InferenceService
    # ks-<model>, whose annotations carry the versions).
    backend = optional(string, "torchserve")
    # kserve only: KServe's canaryTrafficPercent, the share of the model's requests for the
    # predictor's newest revision (null: all of them once it is ready).
    canary_percent = optional(number)
  }))

  validation {
    condition     = alltrue([for name, _ in var.models : can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$", name))])
    error_message = "Every model name must start with a letter or digit and hold only letters, digits, '.', '_' and '-' (at most 200 characters)."
  }

  validation {
    condition = alltrue(flatten([
      for _, m in var.models : [
        for v in [m.version, m.previous, m.staging] : v == null ? true : (v >= 1 && floor(v) == v)
      ]
    ]))
    error_message = "Versions (version, previous, staging) must be whole numbers >= 1, or null."
  }

  validation {
    condition     = alltrue([for _, m in var.models : m.replicas >= 0 && floor(m.replicas) == m.replicas && m.gpu >= 0 && floor(m.gpu) == m.gpu])
    error_message = "replicas and gpu must be whole numbers >= 0."
  }

  validation {
    condition     = alltrue([for _, m in var.models : can(regex("^[0-9]+(\\.[0-9]+)?m?$", m.cpu)) && can(regex("^[0-9]+(Ki|Mi|Gi|Ti|K|M|G|T)?$", m.memory))])
    error_message = "cpu must be a Kubernetes CPU quantity (\"500m\", \"1\") and memory a memory quantity (\"512Mi\", \"1Gi\")."
  }

  validation {
    condition     = alltrue([for _, m in var.models : m.previous == null || m.version != null])
    error_message = "A model with a previous version must have a Production version (version)."
  }

  validation {
    condition     = alltrue([for _, m in var.models : contains(["torchserve", "kserve"], m.backend)])
    error_message = "backend must be \"torchserve\" or \"kserve\" (models.yaml's backend of the model)."
  }

  validation {
    condition     = alltrue([for _, m in var.models : m.canary_percent == null ? true : (m.canary_percent >= 0 && m.canary_percent <= 100 && floor(m.canary_percent) == m.canary_percent)])
    error_message = "canary_percent must be a whole number from 0 to 100, or null (no canary)."
  }

  # TorchServe pods roll with a Deployment's rolling update: no revision to split traffic with.
  validation {
    condition     = alltrue([for _, m in var.models : m.canary_percent == null || m.backend == "kserve"])
    error_message = "canary_percent is only for kserve-backed models (KServe's canaryTrafficPercent); remove it from the torchserve-backed ones."
  }
}

variable "router_table" {
  description = "The router's table.json for these versions, as text (written by `modelreg tf vars`; null: no table, for callers older than it)."
  type        = string
  default     = null

  validation {
    condition     = var.router_table == null ? true : can(jsondecode(var.router_table).models)
    error_message = "router_table must be the router's table as JSON text with a \"models\" object; write it with `modelreg tf vars`."
  }

  # The router calls TorchServe with the explicit version its table names: a table that
  # disagrees with `models` would keep sending traffic to another version than Production.
  validation {
    condition = var.router_table == null ? true : alltrue(concat(
      [
        for name, m in var.models : alltrue([
          try(jsondecode(var.router_table).models[name].production, null) == m.version,
          try(jsondecode(var.router_table).models[name].staging, null) == m.staging,
          try(jsondecode(var.router_table).models[name].previous, null) == (m.previous == m.version ? null : m.previous),
        ])
      ],
      [for name in keys(try(jsondecode(var.router_table).models, {})) : contains(keys(var.models), name)],
    ))
    error_message = "router_table disagrees with models (a model's production, staging or previous version, or a model not in models): the two were edited separately. Write both with `modelreg tf vars` (the registry's versions)."
  }
}
