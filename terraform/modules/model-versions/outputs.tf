output "configmap_data" {
  description = "Model name -> data of its versions ConfigMap (PRODUCTION, STAGING, PREVIOUS, VERSIONS)."
  value       = local.configmap_data
}

output "checksums" {
  description = "Model name -> value of the pod-template annotation checksum/model-versions."
  value       = local.checksums
}

output "annotations" {
  description = "TorchServe-backed model name -> pod-template annotations to set on its Deployment ts-<model>."
  value       = local.deployment_annotations
}

output "inference_services" {
  description = "KServe-backed model name -> {annotations (modelreg.io/production, modelreg.io/versions, checksum/model-versions), canary_traffic_percent} of its InferenceService ks-<model>."
  value       = local.inference_services
}

output "inference_service_ids" {
  description = "KServe-backed model name -> id of its stand-in (changes only when replaced, never on an update)."
  value       = { for name, isvc in terraform_data.inference_service : name => isvc.id }
}

output "workloads" {
  description = "Model name -> replicas, cpu, memory, gpu (from models.yaml)."
  value       = local.workloads
}

output "restart_ids" {
  description = "Model name -> id of its restart trigger (changes when the pods must roll)."
  value       = { for name, r in terraform_data.restart : name => r.id }
}

output "k8s_names" {
  description = "Model name -> the name its Kubernetes objects carry (ts-<name>, model-versions-<name>)."
  value       = local.k8s_names
}

output "router_table_data" {
  description = "Data of the router's table ConfigMap ({\"table.json\" = the table}); null without router_table."
  value       = local.router_table_data
}

output "configmaps" {
  description = "Kubernetes name -> {data, labels, annotations} of every ConfigMap Terraform owns: model-versions-<model> per model and router-table (with router_table)."
  value       = local.configmaps
}

output "configmap_ids" {
  description = "Kubernetes name -> id of its stand-in (changes only when the ConfigMap is replaced, never on a data change)."
  value       = { for name, c in terraform_data.configmap : name => c.id }
}
