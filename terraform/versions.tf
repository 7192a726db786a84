terraform {
  required_version = ">= 1.9" # the module's cross-variable validation

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.35"
    }
  }
}
