"""The vendored KServe InferenceService CRD (vendor/kserve/) as a strict JSON Schema validator.

kubernetes-validate cannot take a CRD (it only looks up the schemas it bundles, by kind, and
warns "schema not found" for an InferenceService), so the CRD's ``openAPIV3Schema`` is turned
into a JSON Schema here and validated with ``jsonschema``, strictly as the API server prunes
and refuses: an object schema with ``properties`` and no ``additionalProperties`` (and no
``x-kubernetes-preserve-unknown-fields``) refuses any other field; ``nullable`` admits null;
``x-kubernetes-int-or-string`` admits an integer or a string. ``metadata`` (only ``type:
object`` in a CRD) is checked for the name rule KServe applies (a DNS-1035 label).
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml  # type: ignore[import-untyped]

from tests.k8s.conftest import ROOT

CRD = ROOT / "vendor" / "kserve" / "serving.kserve.io_inferenceservices.yaml"
CRD_SHA256 = "57c3bf13f77de94678bf2ae3748056ec071ad2b9e88d6a28f44fb4710758fcff"
API_VERSION = "serving.kserve.io/v1beta1"
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def crd_sha256(path: Path = CRD) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def strict(schema: Any) -> Any:
    """The structural OpenAPI schema as a JSON Schema that refuses undeclared fields."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") or key in (
            "allOf",
            "anyOf",
            "oneOf",
        ):
            out[key] = strict(value)
        else:
            out[key] = value
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


@cache
def _validator(path: Path = CRD) -> tuple[jsonschema.Validator, frozenset[str]]:
    crd = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["spec"]["names"]["kind"] == "InferenceService"
    served = {v["name"]: v for v in crd["spec"]["versions"] if v.get("served")}
    version = served["v1beta1"]
    schema = strict(version["schema"]["openAPIV3Schema"])
    return jsonschema.Draft202012Validator(schema), frozenset(served)


def problems(doc: dict[str, Any]) -> list[str]:
    """Every way ``doc`` breaks the CRD, each ``path: message``; [] when it is valid."""
    validator, _ = _validator()
    found = []
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != "InferenceService":
        found.append(f"apiVersion/kind: not {API_VERSION} InferenceService")
    name = doc.get("metadata", {}).get("name", "")
    if not (_DNS_1035.match(name) and len(name) <= 63):
        found.append(f"metadata.name: {name!r} is not a DNS-1035 label")
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
        found.append(f"{'.'.join(str(p) for p in error.path) or '.'}: {error.message}")
    return found
