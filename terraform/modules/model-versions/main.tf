# Desired model versions as code, with built-ins only (tested offline with `terraform test`).
# Terraform is the one owner of what serves: each model's ConfigMap model-versions-<model>
# and the router's ConfigMap router-table, under those fixed names (the kustomize tree of
# `modelreg k8s render` references them and holds no version data). The checksum of a
# model's data (sha256 of its compact, key-sorted JSON, `modelreg`'s ModelVersions.checksum)
# is the pod-template annotation that rolls that model's TorchServe pods. The router's table
# is computed by modelreg (`modelreg tf vars`) and taken as text; the routers reload the
# mounted file, so a table change restarts no router pod. variables.tf refuses a table that
# disagrees with `models`.

locals {
  # The DNS-1123 names `modelreg k8s render` gives (lower case, '-' for the rest, 50 chars).
  k8s_names = {
    for name, _ in var.models : name => trim(substr(trim(replace(lower(name), "/[^a-z0-9-]+/", "-"), "-"), 0, 50), "-")
  }

  loaded = {
    for name, m in var.models : name => [
      # numeric order: sort() compares strings, so pad, sort, and unpad
      for padded in sort(distinct([for v in [m.version, m.staging, m.previous] : format("%09d", v) if v != null])) :
      tostring(tonumber(padded))
    ]
  }

  configmap_data = {
    for name, m in var.models : name => {
      PRODUCTION = m.version == null ? "" : tostring(m.version)
      STAGING    = m.staging == null ? "" : tostring(m.staging)
      PREVIOUS   = m.previous == null ? "" : tostring(m.previous)
      VERSIONS   = join(",", local.loaded[name])
    }
  }

  checksums = { for name, data in local.configmap_data : name => sha256(jsonencode(data)) }

  router_table_data = var.router_table == null ? null : { "table.json" = var.router_table }

  labels = { "app.kubernetes.io/part-of" = "modelreg", "app.kubernetes.io/managed-by" = "terraform" }

  # Every object Terraform owns, by its Kubernetes name. The change id (the registry's audit
  # id these versions come from) is an annotation, outside the data: it rolls no pod.
  configmaps = merge(
    {
      for name, m in var.models : "model-versions-${local.k8s_names[name]}" => {
        data        = local.configmap_data[name]
        labels      = merge(local.labels, { "modelreg.io/model" = name })
        annotations = m.change_id == null ? {} : { "modelreg.io/change-id" = tostring(m.change_id) }
      }
    },
    var.router_table == null ? {} : {
      "router-table" = { data = local.router_table_data, labels = local.labels, annotations = {} }
    },
  )

  # A kserve-backed model's InferenceService: the versions as annotations (KServe copies
  # them into the predictor's pod template, so each Knative revision keeps its own) and
  # KServe's canaryTrafficPercent. A TorchServe-backed model's Deployment gets the checksum.
  inference_services = {
    for name, m in var.models : name => {
      annotations = {
        "modelreg.io/production"  = local.configmap_data[name].PRODUCTION
        "modelreg.io/versions"    = local.configmap_data[name].VERSIONS
        "checksum/model-versions" = local.checksums[name]
      }
      canary_traffic_percent = m.canary_percent
    } if m.backend == "kserve"
  }

  deployment_annotations = {
    for name, sum in local.checksums : name => { "checksum/model-versions" = sum }
    if var.models[name].backend == "torchserve"
  }

  workloads = {
    for name, m in var.models : name => {
      replicas = m.replicas
      cpu      = m.cpu
      memory   = m.memory
      gpu      = m.gpu
    }
  }
}

# Stand-ins for what the root module writes to the cluster, so that a plan shows exactly
# what a change touches: the ConfigMaps, the pod-template annotation (replaced: the pods
# roll), and the workload's resources.
resource "terraform_data" "configmap" {
  for_each = local.configmaps
  input    = each.value
}

resource "terraform_data" "restart" {
  for_each         = local.checksums
  input            = each.value
  triggers_replace = each.value
}

# A kserve-backed model's InferenceService fields Terraform owns: updated in place (KServe
# makes a new revision of the predictor when the annotations change).
resource "terraform_data" "inference_service" {
  for_each = local.inference_services
  input    = each.value
}

resource "terraform_data" "workload" {
  for_each = local.workloads
  input    = each.value
}
