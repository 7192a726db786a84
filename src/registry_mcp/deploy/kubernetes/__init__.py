"""The serving platform as code: desired versions, kustomize manifests, Terraform vars, drift."""
