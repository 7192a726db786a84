# `terraform test` (offline: built-ins only). Runs share state in order.

variables {
  models = {
    "mnist-classifier" = { version = 2, previous = 1, staging = 3, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0 }
    "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
  }
}

run "initial" {
  command = apply

  assert {
    condition     = output.configmap_data["mnist-classifier"] == { PRODUCTION = "2", STAGING = "3", PREVIOUS = "1", VERSIONS = "1,2,3" }
    error_message = "ConfigMap data must list Production, Staging, previous and the loaded set"
  }

  assert {
    condition     = output.configmap_data["digits-encoder"] == { PRODUCTION = "1", STAGING = "", PREVIOUS = "", VERSIONS = "1" }
    error_message = "absent stages are empty strings"
  }

  assert {
    condition     = output.annotations["mnist-classifier"]["checksum/model-versions"] == sha256(jsonencode(output.configmap_data["mnist-classifier"]))
    error_message = "the annotation is the checksum of the ConfigMap data"
  }
}

run "version_change_rolls_only_that_model" {
  command = apply

  variables {
    models = {
      "mnist-classifier" = { version = 3, previous = 2, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0 }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
  }

  assert {
    condition     = output.checksums["mnist-classifier"] != run.initial.checksums["mnist-classifier"]
    error_message = "a version change must change the checksum"
  }

  assert {
    condition     = output.restart_ids["mnist-classifier"] != run.initial.restart_ids["mnist-classifier"]
    error_message = "a version change must replace the restart trigger (the pods roll)"
  }

  assert {
    condition     = output.restart_ids["digits-encoder"] == run.initial.restart_ids["digits-encoder"]
    error_message = "another model's pods must not roll"
  }
}

run "resource_change_does_not_roll" {
  command = apply

  variables {
    models = {
      "mnist-classifier" = { version = 3, previous = 2, replicas = 5, cpu = "1", memory = "2Gi", gpu = 0 }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
  }

  assert {
    condition     = output.checksums["mnist-classifier"] == run.version_change_rolls_only_that_model.checksums["mnist-classifier"]
    error_message = "a non-version change must keep the checksum"
  }

  assert {
    condition     = output.restart_ids["mnist-classifier"] == run.version_change_rolls_only_that_model.restart_ids["mnist-classifier"]
    error_message = "a non-version change must not replace the restart trigger"
  }

  assert {
    condition     = output.workloads["mnist-classifier"].replicas == 5
    error_message = "the workload follows the resources"
  }
}

run "numeric_order" {
  command = plan

  variables {
    models = {
      "m" = { version = 10, previous = 9, staging = 11, replicas = 1, cpu = "1", memory = "1Gi", gpu = 0 }
    }
  }

  assert {
    condition     = output.configmap_data["m"].VERSIONS == "9,10,11"
    error_message = "versions are listed in numeric order"
  }
}

run "bad_version_rejected" {
  command = plan

  variables {
    models = {
      "m" = { version = 0, replicas = 1, cpu = "1", memory = "1Gi", gpu = 0 }
    }
  }

  expect_failures = [var.models]
}

run "bad_quantity_rejected" {
  command = plan

  variables {
    models = {
      "m" = { version = 1, replicas = 1, cpu = "lots", memory = "1Gi", gpu = 0 }
    }
  }

  expect_failures = [var.models]
}

run "previous_without_production_rejected" {
  command = plan

  variables {
    models = {
      "m" = { previous = 1, replicas = 1, cpu = "1", memory = "1Gi", gpu = 0 }
    }
  }

  expect_failures = [var.models]
}

run "rollback_setup_v2" {
  command = apply

  variables {
    models = {
      "mnist-classifier" = { version = 2, previous = 1, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0 }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
  }
}

run "rollback_v2_to_v1" {
  command = plan

  variables {
    models = {
      "mnist-classifier" = { version = 1, previous = 2, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0 }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
  }

  assert {
    condition     = output.configmap_data["mnist-classifier"].PRODUCTION == "1" && output.configmap_data["mnist-classifier"].VERSIONS == "1,2"
    error_message = "the rollback makes v1 Production and keeps v2 loaded"
  }

  assert {
    condition     = output.checksums["mnist-classifier"] != run.rollback_setup_v2.checksums["mnist-classifier"]
    error_message = "the rollback changes the annotation (the pods roll)"
  }

  assert {
    condition     = output.workloads == run.rollback_setup_v2.workloads && output.checksums["digits-encoder"] == run.rollback_setup_v2.checksums["digits-encoder"]
    error_message = "the rollback touches nothing else"
  }
}
