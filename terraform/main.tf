# Terraform is the one owner of the desired versions on a running cluster (the kustomize tree
# of `modelreg k8s render` holds everything else and no version data):
# - ConfigMap model-versions-<model> per model (PRODUCTION, STAGING, PREVIOUS, VERSIONS; the
#   annotation modelreg.io/change-id is the registry change they come from), read by the
#   TorchServe pods' init container, and the pod-template annotation checksum/model-versions
#   of Deployment ts-<model>, so a version change rolls exactly that model's pods;
# - ConfigMap router-table (table.json, from `modelreg tf vars`), mounted by the router, which
#   reloads it when the kubelet updates the file: no router pod restarts for a promotion.
# - for a kserve-backed model, on InferenceService ks-<model>: the annotations
#   modelreg.io/production, modelreg.io/versions and checksum/model-versions (KServe copies
#   them into the predictor's pod template: a new Knative revision that loads those versions)
#   and spec.predictor.canaryTrafficPercent (the share of requests for that newest revision);
#   the ConfigMap model-versions-<model> is written for it too (what `modelreg k8s diff` reads).
# Apply `kubectl apply -k k8s/overlays/<cpu|gpu>` first (the namespace and Deployments), then
# this. The logic lives in modules/model-versions (built-ins only, `terraform test`); it
# refuses a router_table whose versions disagree with `models`.

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

resource "kubernetes_config_map_v1" "owned" {
  for_each = module.versions.configmaps

  metadata {
    name        = each.key
    namespace   = var.namespace
    labels      = each.value.labels
    annotations = each.value.annotations
  }

  data = each.value.data
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
  # kustomize renders no such annotation: Terraform is its only writer.
  force = true

  depends_on = [kubernetes_config_map_v1.owned]
}

resource "kubernetes_annotations" "inference_service" {
  for_each = module.versions.inference_services

  api_version = "serving.kserve.io/v1beta1"
  kind        = "InferenceService"
  metadata {
    name      = "ks-${local.k8s_names[each.key]}"
    namespace = var.namespace
  }
  annotations = each.value.annotations
  # kustomize renders none of these annotations: Terraform is their only writer.
  force = true

  depends_on = [kubernetes_config_map_v1.owned]
}

# KServe's canaryTrafficPercent, the one field of the InferenceService's spec Terraform owns
# (server-side apply under its own field manager; kustomize never renders it). null removes
# it: KServe then sends every request to the newest revision once it is ready.
resource "kubernetes_manifest" "canary" {
  for_each = module.versions.inference_services

  manifest = {
    apiVersion = "serving.kserve.io/v1beta1"
    kind       = "InferenceService"
    metadata = {
      name      = "ks-${local.k8s_names[each.key]}"
      namespace = var.namespace
    }
    spec = {
      predictor = {
        canaryTrafficPercent = each.value.canary_traffic_percent
      }
    }
  }

  field_manager {
    name            = "modelreg-terraform"
    force_conflicts = true
  }

  depends_on = [kubernetes_annotations.inference_service]
}
