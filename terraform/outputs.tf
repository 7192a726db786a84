output "checksums" {
  description = "Model name -> checksum/model-versions annotation."
  value       = module.versions.checksums
}
