"""The prediction router: the one HTTP entry point for predictions, in front of TorchServe.

It receives its routing table as data (``PUT /admin/table``) and never asks the registry.
Modules, one job each:

- ``errors``    RouterError and its closed set of codes (-> HTTP status)
- ``table``     the routing table (models -> versions, routes -> rules), compiled for lookup
- ``inputs``    request body -> rows, checked against a model's input schema
- ``oip``       the Open Inference Protocol v2 for clients: request -> rows, answer -> tensors
- ``rules``     which model a route's rules pick for a request
- ``upstream``  pooled async HTTP/1.1 client of TorchServe's inference API (token included)
- ``auth``      admin token and client API keys (constant-time compares)
- ``state``     the last accepted table on disk (atomic write), read back at start
- ``metrics``   Prometheus metrics of one router (its own CollectorRegistry)
- ``openapi``   the OpenAPI document and the /docs page
- ``switch``    the table in use and its atomic, verified, persisted replacement
- ``follow``    install a table file again whenever it changes (``--follow-table``)
- ``app``       the ASGI app: endpoints (native and OIP), auth, validation, metrics
- ``stack``     the HTTP server stack (httptools + uvloop when installed), request head capped
- ``server``    settings, ``serve()``, and a start/stop helper for a router process
"""
