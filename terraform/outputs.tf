output "checksums" {
  description = "Model name -> checksum/model-versions annotation."
  value       = module.versions.checksums
}

output "configmaps" {
  description = "Names of the ConfigMaps Terraform owns (model-versions-<model>, router-table)."
  value       = keys(module.versions.configmaps)
}
