output "checksums" {
  description = "Model name -> checksum/model-versions annotation."
  value       = module.versions.checksums
}

output "router_checksum" {
  description = "sha256 of router_table: the checksum/router-table annotation `modelreg k8s render` gives the router for the same versions."
  value       = module.versions.router_checksum
}
