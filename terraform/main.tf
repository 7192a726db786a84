# Terraform owns the desired versions on a running cluster: one ConfigMap per model
# (tf-model-versions-<model>, which the TorchServe pods' init container reads after the
# rendered one, so it wins) and the pod-template annotation checksum/model-versions of the
# model's Deployment, so a version change rolls exactly that model's pods. Everything else
# comes from `kubectl apply -k k8s/overlays/<cpu|gpu>`.
# The logic lives in modules/model-versions (built-ins only, `terraform test`).

provider "kubernetes" {
  config_path    = var.kubeconfig_path
  config_context = var.kube_context
}

module "versions" {
  source = "./modules/model-versions"
  models = var.models
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
