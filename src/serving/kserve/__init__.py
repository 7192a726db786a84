"""KServe's Python model server as a serving backend (Open Inference Protocol v2).

- ``model``    a kserve ``Model`` holding several versions of one model (safe format only)
- ``server``   the server process: kserve's REST app, versioned v2 routes, management API
- ``local``    start / stop / health of a local server process on free loopback ports
- ``backend``  ``ServingBackend`` over that server's HTTP APIs (imports no kserve)

Only ``model`` and ``server`` import ``kserve`` (the ``kserve`` extra); they run in the
server process, never in the registry's.
"""
