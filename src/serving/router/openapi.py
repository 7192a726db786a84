"""The router's OpenAPI document (served at /openapi.json) and a plain /docs page (offline)."""

from __future__ import annotations

import html
import json
from typing import Any

from serving.router.feedback import FeedbackBatch, FeedbackItem, Settled
from serving.router.table import Confirmation, TableState, TableUpdate
from serving.router.window import StatsReply

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        },
        "request_id": {"type": "string"},
    },
}
_ROWS = {
    "description": 'JSON: {"inputs": [[x, ...], ...]}, {"instances": [...]}, a list of rows, '
    "or one flat row; each row holds the model's n_features numbers.",
    "required": True,
    "content": {"application/json": {"schema": {}}},
}
_PREDICTION = {
    "description": "TorchServe's answer, from the version named in X-Model-Version.",
    "headers": {
        name: {"schema": {"type": "string"}}
        for name in ("X-Model-Name", "X-Model-Version", "X-Request-Id")
    },
    "content": {"application/json": {"schema": {}}},
}


_OIP_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string"},
    },
}
_OIP_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string", "examples": ["FP32"]},
        "parameters": {"type": "object"},
        "data": {"type": "array"},
    },
}
_OIP_REQUEST = {
    "description": "An Open Inference Protocol v2 infer request: one input tensor of shape "
    "[rows, *row] and the schema's datatype; with Inference-Header-Content-Length, the "
    "JSON part is followed by binary tensor data (little-endian).",
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string"},
                    "parameters": {"type": "object"},
                    "inputs": {"type": "array", "items": _OIP_TENSOR},
                    "outputs": {"type": "array", "items": {"type": "object"}},
                },
            }
        },
        "application/octet-stream": {"schema": {}},
    },
}
_OIP_RESPONSE = {
    "description": "The native answer as output tensors (class INT64, probabilities FP64, "
    "...), from the version named in model_version and X-Model-Version.",
    "headers": _PREDICTION["headers"],
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "model_name": {"type": "string"},
                    "model_version": {"type": "string"},
                    "id": {"type": "string"},
                    "outputs": {"type": "array", "items": _OIP_TENSOR},
                },
            }
        },
        "application/octet-stream": {"schema": {}},
    },
}


def _oip_errors(*statuses: int) -> dict[str, Any]:
    return {
        str(s): {
            "description": "Refused; code says why.",
            "content": {"application/json": {"schema": _OIP_ERROR}},
        }
        for s in statuses
    }


def _oip_infer(summary: str, params: list[str]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": [_param(p) for p in params],
            "requestBody": _OIP_REQUEST,
            "responses": {
                "200": _OIP_RESPONSE,
                **_oip_errors(400, 401, 403, 404, 413, 502, 503, 504),
            },
            "security": [{"apiKey": []}, {}],
        }
    }


def _oip_get(summary: str, params: list[str], *statuses: int) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": [_param(p) for p in params],
            "responses": {"200": {"description": "OK"}, **_oip_errors(*statuses)},
            "security": [{"apiKey": []}, {}],
        }
    }


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(s): {
            "description": "Refused; error.code says why.",
            "content": {"application/json": {"schema": _ERROR}},
        }
        for s in statuses
    }


def _param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _predict(summary: str, params: list[str]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": [_param(p) for p in params],
            "requestBody": _ROWS,
            "responses": {
                "200": _PREDICTION,
                **_errors(400, 401, 403, 404, 413, 502, 503, 504),
            },
            "security": [{"apiKey": []}, {}],
        }
    }


def _simple(summary: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}}


def openapi_document() -> dict[str, Any]:
    table = {"application/json": {"schema": {"$ref": "#/components/schemas/TableState"}}}
    update = {"application/json": {"schema": {"$ref": "#/components/schemas/TableUpdate"}}}
    feedback = {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/FeedbackItem"},
                    {"$ref": "#/components/schemas/FeedbackBatch"},
                ]
            }
        }
    }
    ref = "#/components/schemas/{model}"
    schemas = {
        "FeedbackItem": FeedbackItem.model_json_schema(ref_template=ref),
        "FeedbackBatch": FeedbackBatch.model_json_schema(ref_template=ref),
        "Settled": Settled.model_json_schema(ref_template=ref),
        "TableState": TableState.model_json_schema(ref_template="#/components/schemas/{model}"),
        "TableUpdate": TableUpdate.model_json_schema(ref_template="#/components/schemas/{model}"),
        "Confirmation": Confirmation.model_json_schema(ref_template=ref),
        "StatsReply": StatsReply.model_json_schema(ref_template=ref),
    }
    for schema in list(schemas.values()):
        schemas.update(schema.pop("$defs", {}))
    return {
        "openapi": "3.1.0",
        "info": {"title": "modelreg prediction router", "version": "1"},
        "paths": {
            "/predictions/{model}": _predict("Predict with the Production version", ["model"]),
            "/predictions/{model}/{version}": _predict(
                "Predict with a version the table serves", ["model", "version"]
            ),
            "/routes/{route}": _predict("Predict with the model the route's rules pick", ["route"]),
            "/feedback": {
                "post": {
                    "summary": "True labels for answered requests (production accuracy)",
                    "security": [{"apiKey": []}, {}],
                    "requestBody": {"required": True, "content": feedback},
                    "responses": {
                        "200": {
                            "description": "What was counted",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Settled"}
                                }
                            },
                        },
                        **_errors(400, 401, 413),
                    },
                }
            },
            "/admin/table": {
                "get": {
                    "summary": "Read the routing table and its generation",
                    "security": [{"adminToken": []}],
                    "responses": {"200": {"description": "OK", "content": table}, **_errors(401)},
                },
                "put": {
                    "summary": "Replace the table (compare-and-set on expected_generation)",
                    "security": [{"adminToken": []}],
                    "requestBody": {"required": True, "content": update},
                    "responses": {
                        "200": {"description": "Accepted", "content": table},
                        **_errors(400, 401, 409, 413, 422, 500, 503),
                    },
                },
            },
            "/admin/confirm": {
                "post": {
                    "summary": "Confirm the table a restarted router read from its state file "
                    "(409 unless generation is the current one)",
                    "security": [{"adminToken": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Confirmation"}
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "Confirmed", "content": table},
                        **_errors(400, 401, 409, 413),
                    },
                }
            },
            "/admin/stats": {
                "get": {
                    "summary": "Requests, errors, rejections, p50/p99 and feedback per model "
                    "version between two Unix times (canary comparison, promotion guards)",
                    "security": [{"adminToken": []}],
                    "parameters": [
                        {"name": name, "in": "query", "schema": {"type": "number"}}
                        for name in ("since", "until")
                    ],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/StatsReply"}
                                }
                            },
                        },
                        **_errors(400, 401),
                    },
                }
            },
            "/healthz": _simple("The process is alive"),
            "/readyz": _simple(
                "A confirmed table is loaded, TorchServe answers and at least one model of "
                "the table is ready (503 otherwise); `models` gives each model's state"
            ),
            "/metrics": _simple("Prometheus metrics (text exposition format)"),
            "/v2": _simple("Open Inference Protocol: server metadata (name, version, extensions)"),
            "/v2/health/live": _simple("Open Inference Protocol: the process is alive"),
            "/v2/health/ready": _simple("Open Inference Protocol: as /readyz (503 when not)"),
            "/v2/models/{model}/infer": _oip_infer(
                "Open Inference Protocol: infer with the Production version (or the canary's "
                "share)",
                ["model"],
            ),
            "/v2/models/{model}/versions/{version}/infer": _oip_infer(
                "Open Inference Protocol: infer with a version the table serves (its "
                "pinned_versions policy applies)",
                ["model", "version"],
            ),
            "/v2/models/{model}": _oip_get(
                "Open Inference Protocol: model metadata (versions, input, outputs)",
                ["model"],
                401,
                404,
            ),
            "/v2/models/{model}/versions/{version}": _oip_get(
                "Open Inference Protocol: metadata of one served version",
                ["model", "version"],
                401,
                404,
            ),
            "/v2/models/{model}/ready": _oip_get(
                "Open Inference Protocol: 200 when the model's Production version serves",
                ["model"],
                401,
                404,
                503,
            ),
            "/v2/models/{model}/versions/{version}/ready": _oip_get(
                "Open Inference Protocol: 200 when that version serves",
                ["model", "version"],
                401,
                404,
                503,
            ),
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer"},
                "adminToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def docs_page(document: dict[str, Any]) -> bytes:
    """A self-contained HTML page listing the endpoints (no scripts, no network)."""
    rows = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}"
                f"</code></td><td>{html.escape(operation['summary'])}</td></tr>"
            )
    title = html.escape(document["info"]["title"])
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>Full schema: <a href='/openapi.json'>/openapi.json</a></p>"
        f"<table>{''.join(rows)}</table><pre>{html.escape(json.dumps(document, indent=2))}"
        "</pre></body></html>"
    ).encode()
