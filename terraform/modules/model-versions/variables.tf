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
}
