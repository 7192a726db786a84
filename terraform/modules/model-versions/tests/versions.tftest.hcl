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

  # The owner split: Terraform owns the versions under the fixed names the pods reference.
  assert {
    condition     = keys(output.configmaps) == ["model-versions-digits-encoder", "model-versions-mnist-classifier"]
    error_message = "Terraform owns one model-versions-<model> ConfigMap per model (no router-table without router_table)"
  }

  assert {
    condition     = output.configmaps["model-versions-mnist-classifier"].data == output.configmap_data["mnist-classifier"] && output.configmaps["model-versions-mnist-classifier"].labels["app.kubernetes.io/managed-by"] == "terraform"
    error_message = "model-versions-<model> carries the model's data and says who manages it"
  }

  assert {
    condition     = length(output.configmaps["model-versions-mnist-classifier"].annotations) == 0
    error_message = "no change id given, no change-id annotation"
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

run "change_id_alone_does_not_roll" {
  command = apply

  # `modelreg tf vars` stamps each model with the registry change its versions come from
  # (for `modelreg k8s diff`); a new stamp with the same versions must not roll any pod.
  variables {
    models = {
      "mnist-classifier" = { version = 3, previous = 2, replicas = 5, cpu = "1", memory = "2Gi", gpu = 0, change_id = 57 }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0, change_id = 12 }
    }
  }

  assert {
    condition     = output.configmap_data["mnist-classifier"] == run.resource_change_does_not_roll.configmap_data["mnist-classifier"]
    error_message = "the change id is not part of the ConfigMap data"
  }

  assert {
    condition     = output.restart_ids["mnist-classifier"] == run.resource_change_does_not_roll.restart_ids["mnist-classifier"] && output.restart_ids["digits-encoder"] == run.resource_change_does_not_roll.restart_ids["digits-encoder"]
    error_message = "a change id without a version change must not replace a restart trigger"
  }

  assert {
    condition     = output.configmaps["model-versions-mnist-classifier"].annotations["modelreg.io/change-id"] == "57" && output.configmaps["model-versions-digits-encoder"].annotations["modelreg.io/change-id"] == "12"
    error_message = "the change id is the ConfigMap's annotation modelreg.io/change-id (what `modelreg k8s diff --kubeconfig` reads)"
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

# The router's table, as `modelreg tf vars` writes it (here compact: any text works). Its
# versions must agree with `models`. Terraform owns it as ConfigMap router-table; the routers
# reload the mounted file, so a table change replaces nothing and restarts no router pod.

run "router_setup_v2" {
  command = apply

  variables {
    models = {
      "mnist-classifier" = { version = 2, previous = 1, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0 }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
    router_table = jsonencode({
      models = {
        "mnist-classifier" = { served_name = "mnist-classifier", production = 2, previous = 1 }
        "digits-encoder"   = { served_name = "digits-encoder", production = 1 }
      }
      routes = {}
    })
  }

  assert {
    condition     = output.router_table_data == { "table.json" = var.router_table }
    error_message = "the router's ConfigMap data is the table, as given"
  }

  assert {
    condition     = output.configmaps["router-table"].data == { "table.json" = var.router_table }
    error_message = "Terraform owns ConfigMap router-table (the fixed name the router mounts)"
  }

  assert {
    condition     = keys(output.configmaps) == ["model-versions-digits-encoder", "model-versions-mnist-classifier", "router-table"]
    error_message = "Terraform owns exactly the versions ConfigMaps and the router's table"
  }
}

run "router_rollback_v2_to_v1" {
  command = apply

  variables {
    models = {
      "mnist-classifier" = { version = 1, previous = 2, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0 }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
    router_table = jsonencode({
      models = {
        "mnist-classifier" = { served_name = "mnist-classifier", production = 1, previous = 2 }
        "digits-encoder"   = { served_name = "digits-encoder", production = 1 }
      }
      routes = {}
    })
  }

  assert {
    condition     = jsondecode(output.router_table_data["table.json"]).models["mnist-classifier"].production == 1
    error_message = "the router's table names the rolled-back Production"
  }

  assert {
    condition     = output.configmap_ids == run.router_setup_v2.configmap_ids
    error_message = "a rollback updates the ConfigMaps in place (the routers reload the table; none is replaced)"
  }

  assert {
    condition     = output.restart_ids["mnist-classifier"] != run.router_setup_v2.restart_ids["mnist-classifier"] && output.restart_ids["digits-encoder"] == run.router_setup_v2.restart_ids["digits-encoder"]
    error_message = "the rolled-back model's pods roll, no other model's"
  }
}

run "router_unchanged_versions_change_nothing" {
  command = apply

  variables {
    models = {
      "mnist-classifier" = { version = 1, previous = 2, replicas = 5, cpu = "1", memory = "2Gi", gpu = 0 }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
    router_table = run.router_rollback_v2_to_v1.router_table_data["table.json"]
  }

  assert {
    condition     = output.configmaps["router-table"] == run.router_rollback_v2_to_v1.configmaps["router-table"] && output.configmap_ids == run.router_rollback_v2_to_v1.configmap_ids
    error_message = "unchanged versions keep the router's table"
  }

  assert {
    condition     = output.restart_ids == run.router_rollback_v2_to_v1.restart_ids
    error_message = "unchanged versions roll no pod (a resource change only updates the workload)"
  }
}

run "router_table_behind_a_hand_rollback_rejected" {
  command = plan

  variables {
    # `version` rolled back by hand, the table left at v2: the router would keep v2.
    models = {
      "mnist-classifier" = { version = 1, previous = 2, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0 }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
    router_table = run.router_setup_v2.router_table_data["table.json"]
  }

  expect_failures = [var.router_table]
}

run "router_table_ahead_of_models_rejected" {
  command = plan

  variables {
    # the table rolled back by hand, `models` left at v2
    models = {
      "mnist-classifier" = { version = 2, previous = 1, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0 }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
    router_table = run.router_rollback_v2_to_v1.router_table_data["table.json"]
  }

  expect_failures = [var.router_table]
}

run "router_table_not_json_rejected" {
  command = plan

  variables {
    router_table = "{not json"
  }

  expect_failures = [var.router_table]
}

# A kserve-backed model: Terraform owns its InferenceService's version annotations (a new
# predictor revision that loads them) and KServe's canaryTrafficPercent for that revision.
# A promotion with a canary, the canary completed, and a rollback both ways.
run "kserve_v1" {
  command = apply

  variables {
    models = {
      "mnist-classifier" = { version = 1, staging = 2, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0, backend = "kserve" }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
  }

  assert {
    condition     = output.inference_services["mnist-classifier"].annotations == { "modelreg.io/production" = "1", "modelreg.io/versions" = "1,2", "checksum/model-versions" = output.checksums["mnist-classifier"] }
    error_message = "the InferenceService carries Production, the loaded set and the checksum as annotations"
  }

  assert {
    condition     = output.inference_services["mnist-classifier"].canary_traffic_percent == null
    error_message = "no canary unless one is asked for"
  }

  assert {
    condition     = keys(output.inference_services) == ["mnist-classifier"] && keys(output.annotations) == ["digits-encoder"]
    error_message = "the checksum goes on a Deployment only for torchserve-backed models, the InferenceService annotations only for kserve-backed ones"
  }

  assert {
    condition     = contains(keys(output.configmaps), "model-versions-mnist-classifier")
    error_message = "a kserve-backed model keeps its versions ConfigMap (what `modelreg k8s diff` reads)"
  }
}

run "kserve_promote_v2_with_canary" {
  command = apply

  variables {
    models = {
      "mnist-classifier" = { version = 2, previous = 1, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0, backend = "kserve", canary_percent = 10 }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
  }

  assert {
    condition     = output.inference_services["mnist-classifier"].annotations["modelreg.io/production"] == "2" && output.inference_services["mnist-classifier"].annotations["modelreg.io/versions"] == "1,2"
    error_message = "the promotion's revision loads v2 (Production) and v1 (previous)"
  }

  assert {
    condition     = output.inference_services["mnist-classifier"].canary_traffic_percent == 10
    error_message = "KServe sends 10 % of the requests to the new revision"
  }

  assert {
    condition     = output.inference_service_ids["mnist-classifier"] == run.kserve_v1.inference_service_ids["mnist-classifier"]
    error_message = "the InferenceService is updated in place, never replaced"
  }

  assert {
    condition     = output.checksums["digits-encoder"] == run.kserve_v1.checksums["digits-encoder"]
    error_message = "the other model is untouched"
  }
}

run "kserve_canary_completed" {
  command = apply

  variables {
    models = {
      "mnist-classifier" = { version = 2, previous = 1, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0, backend = "kserve" }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
  }

  assert {
    condition     = output.inference_services["mnist-classifier"].canary_traffic_percent == null
    error_message = "completing the canary removes canaryTrafficPercent"
  }

  assert {
    condition     = output.inference_services["mnist-classifier"].annotations == run.kserve_promote_v2_with_canary.inference_services["mnist-classifier"].annotations && output.restart_ids["mnist-classifier"] == run.kserve_promote_v2_with_canary.restart_ids["mnist-classifier"]
    error_message = "completing the canary changes no version annotation: no new revision"
  }
}

run "kserve_canary_rolled_back" {
  command = plan

  variables {
    models = {
      "mnist-classifier" = { version = 2, previous = 1, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0, backend = "kserve", canary_percent = 0 }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
  }

  assert {
    condition     = output.inference_services["mnist-classifier"].canary_traffic_percent == 0 && output.inference_services["mnist-classifier"].annotations == run.kserve_promote_v2_with_canary.inference_services["mnist-classifier"].annotations
    error_message = "canary 0 with the same versions sends every request back to the last revision that had them all"
  }
}

run "kserve_rollback_v2_to_v1" {
  command = plan

  variables {
    models = {
      "mnist-classifier" = { version = 1, previous = 2, replicas = 2, cpu = "500m", memory = "1Gi", gpu = 0, backend = "kserve" }
      "digits-encoder"   = { version = 1, replicas = 4, cpu = "250m", memory = "512Mi", gpu = 0 }
    }
  }

  assert {
    condition     = output.inference_services["mnist-classifier"].annotations["modelreg.io/production"] == "1" && output.inference_services["mnist-classifier"].annotations["modelreg.io/versions"] == "1,2"
    error_message = "the rollback's revision loads v1 as Production and keeps v2 warm"
  }

  assert {
    condition     = output.inference_services["mnist-classifier"].annotations["checksum/model-versions"] != run.kserve_canary_completed.inference_services["mnist-classifier"].annotations["checksum/model-versions"]
    error_message = "the rollback changes the annotations (a new revision)"
  }
}

run "canary_on_torchserve_rejected" {
  command = plan

  variables {
    models = {
      "m" = { version = 1, replicas = 1, cpu = "1", memory = "1Gi", gpu = 0, canary_percent = 10 }
    }
  }

  expect_failures = [var.models]
}

run "canary_out_of_range_rejected" {
  command = plan

  variables {
    models = {
      "m" = { version = 1, replicas = 1, cpu = "1", memory = "1Gi", gpu = 0, backend = "kserve", canary_percent = 150 }
    }
  }

  expect_failures = [var.models]
}

run "unknown_backend_rejected" {
  command = plan

  variables {
    models = {
      "m" = { version = 1, replicas = 1, cpu = "1", memory = "1Gi", gpu = 0, backend = "triton" }
    }
  }

  expect_failures = [var.models]
}
