variable "models" {
  description = "Desired state per model, written by `modelreg tf vars` (model_versions.auto.tfvars.json)."
  type = map(object({
    version  = optional(number)
    previous = optional(number)
    staging  = optional(number)
    replicas = number
    cpu      = string
    memory   = string
    gpu      = number
    # The registry change these versions come from (its audit id), for `modelreg k8s diff`.
    change_id = optional(number)
    # torchserve or kserve (models.yaml); kserve only: KServe's canaryTrafficPercent.
    backend        = optional(string, "torchserve")
    canary_percent = optional(number)
  }))
}

variable "router_table" {
  description = "The router's table.json for these versions, as text, written by `modelreg tf vars`; the module refuses one that disagrees with models (null: an older tfvars without it)."
  type        = string
  default     = null
}

variable "namespace" {
  description = "Namespace of the kustomize-rendered platform (k8s/)."
  type        = string
  default     = "modelreg"
}

variable "kubeconfig_path" {
  description = "kubeconfig of the target cluster."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "kubeconfig context (null: the current one)."
  type        = string
  default     = null
}
