# The one image of the platform (k8s/): modelreg, MLflow, TorchServe and the router.
# Each Kubernetes container picks its command (the same commands run locally):
#   modelreg k8s archives --model M --out /srv/torchserve/model-store --versions 1,2
#                                            (TorchServe pods' init container: builds .mar files)
#   torchserve --start --foreground --ncs --ts-config /etc/torchserve/config.properties --models all
#   python -m serving.router --host 0.0.0.0 --port 8090 ...            (prediction router)
#   /opt/kserve/bin/python -m serving.kserve.server --host 0.0.0.0 --port 8080 --load ...
#                                            (a kserve-backed model's InferenceService predictor)
#   modelreg mcp --transport http --host 0.0.0.0 --port 8765           (MCP server; token from a Secret)
#   mlflow server --backend-store-uri $(DSN) --artifacts-destination /mlartifacts --serve-artifacts
# Build: docker build -t modelreg:0.1.0 .   (kind: kind load docker-image modelreg:0.1.0)
# GPU image (k8s/overlays/gpu runs it): torch's CUDA wheels instead of the CPU ones,
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 -t modelreg:0.1.0-cuda .
FROM python:3.11-slim-bookworm

# Where torch comes from: the CPU wheels by default, a CUDA index for the GPU image.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# TorchServe 0.12 needs Java 17.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    MODELREG_HOME=/var/lib/modelreg

WORKDIR /opt/modelreg
COPY pyproject.toml README.md ./
COPY src ./src
# torch first and pinned, from TORCH_INDEX_URL (CPU build unless the GPU image is built).
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0 \
 && pip install .

# KServe's model server (the predictor of a kserve-backed model's InferenceService runs
# /opt/kserve/bin/python -m serving.kserve.server) in an environment of its own: kserve pins
# libraries older than the project's; it reads torch and modelreg from the system site-packages.
RUN python -m venv --system-site-packages /opt/kserve \
 && /opt/kserve/bin/pip install 'kserve>=0.21,<0.22' \
 && /opt/kserve/bin/python -c "import kserve, torch, serving.kserve.server"

# Non-root, matching the pods' runAsUser; the root filesystem is read-only in the pods
# (emptyDirs for /tmp, /srv/torchserve, /var/lib/modelreg).
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/modelreg modelreg \
 && mkdir -p /srv/torchserve /var/lib/modelreg \
 && chown -R 10001:10001 /srv/torchserve /var/lib/modelreg
USER 10001:10001

HEALTHCHECK NONE
CMD ["modelreg", "--help"]
