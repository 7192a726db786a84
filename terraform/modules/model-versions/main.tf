# Desired model versions as code, with built-ins only (tested offline with `terraform test`).
# The ConfigMap data and its checksum match what `modelreg k8s render` writes:
# sha256 of the compact, key-sorted JSON of the data. The router's table is computed by
# modelreg (`modelreg tf vars`) and taken as text: its checksum is sha256 of that text, the
# render's checksum/router-table; variables.tf refuses a table that disagrees with `models`.

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
  router_checksum   = var.router_table == null ? null : sha256(var.router_table)

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
# what a change touches: the ConfigMap data, the pod-template annotation (replaced: the pods
# roll), and the workload's resources.
resource "terraform_data" "configmap" {
  for_each = local.configmap_data
  input    = each.value
}

resource "terraform_data" "restart" {
  for_each         = local.checksums
  input            = each.value
  triggers_replace = each.value
}

resource "terraform_data" "workload" {
  for_each = local.workloads
  input    = each.value
}

# The router's table (ConfigMap data) and its restart trigger: replaced when the table changes
# (the router's pods roll), kept when it does not.
resource "terraform_data" "router_table" {
  count = var.router_table == null ? 0 : 1
  input = local.router_table_data
}

resource "terraform_data" "router_restart" {
  count            = var.router_table == null ? 0 : 1
  input            = local.router_checksum
  triggers_replace = local.router_checksum
}
