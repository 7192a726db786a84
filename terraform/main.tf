# Terraform owns the desired versions on a running cluster: one ConfigMap per model
# (tf-model-versions-<model>, which the TorchServe pods' init container reads after the
# rendered one, so it wins) and the pod-template annotation checksum/model-versions of the
# model's Deployment, so a version change rolls exactly that model's pods. Everything else
# comes from `kubectl apply -k k8s/overlays/<cpu|gpu>`.
# The logic lives in modules/model-versions (built-ins only, `terraform test`).
#
# router_table (the router's table.json for the same versions, from `modelreg tf vars`) is
# checked by the module: a plan is refused when its versions disagree with `models`. Terraform
# then owns table.json of ConfigMap router-table (rendered by kustomize under that fixed
# name) and the router Deployment's checksum/router-table annotation, so the router pods
# restart with the table that names the new versions.

provider "kubernetes" {
  config_path    = var.kubeconfig_path
  config_context = var.kube_context
}

module "versions" {
  source       = "./modules/model-versions"
  models       = var.models
  router_table = var.router_table
}

locals {
  k8s_names = module.versions.k8s_names
}

resource "kubernetes_config_map_v1" "versions" {
  for_each = module.versions.configmap_data

  metadata {
    name      = "tf-model-versions-${local.k8s_names[each.key]}"
    namespace = var.namespace
    labels = {
      "app.kubernetes.io/part-of"    = "modelreg"
      "app.kubernetes.io/managed-by" = "terraform"
      "modelreg.io/model"            = each.key
    }
  }

  data = each.value
}

resource "kubernetes_annotations" "restart" {
  for_each = module.versions.annotations

  api_version = "apps/v1"
  kind        = "Deployment"
  metadata {
    name      = "ts-${local.k8s_names[each.key]}"
    namespace = var.namespace
  }
  template_annotations = each.value
  # The annotation was first written by kustomize; Terraform takes it over.
  force = true

  depends_on = [kubernetes_config_map_v1.versions]
}

resource "kubernetes_config_map_v1_data" "router_table" {
  count = var.router_table == null ? 0 : 1

  metadata {
    name      = "router-table"
    namespace = var.namespace
  }
  data = module.versions.router_table_data
  # The ConfigMap was first written by kustomize; Terraform takes over table.json.
  force = true
}

resource "kubernetes_annotations" "router_restart" {
  count = var.router_table == null ? 0 : 1

  api_version = "apps/v1"
  kind        = "Deployment"
  metadata {
    name      = "modelreg-router"
    namespace = var.namespace
  }
  template_annotations = { "checksum/router-table" = module.versions.router_checksum }
  force                = true

  depends_on = [kubernetes_config_map_v1_data.router_table]
}
