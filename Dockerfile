# syntax=docker/dockerfile:1
# Autonomic's image: `docker build -t autonomic:0.1.0 .` (docs/deploy.md, "Image").
# Two stages: the first installs the package (no dev dependencies) into a virtual
# environment; the second copies only that environment onto a clean slim base and runs
# as the non-root user 65532. Nothing is written at run time outside /tmp and the ledger
# volume (/var/lib/autonomic), so the root filesystem can be mounted read-only.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# Optional extras, e.g. --build-arg EXTRAS=postgres for a PostgreSQL ledger.
ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/autonomic
COPY pyproject.toml README.md LICENSE ./
COPY agent ./agent
COPY forecasting ./forecasting
COPY remediation ./remediation
# Compile the bytecode now: at run time the filesystem is read-only and none is written.
RUN if [ -n "$EXTRAS" ]; then spec=".[$EXTRAS]"; else spec="."; fi \
    && /opt/autonomic/bin/pip install "$spec" \
    && /opt/autonomic/bin/python -m compileall -q /opt/autonomic \
    && /opt/autonomic/bin/autonomic --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="autonomic" \
      org.opencontainers.image.description="In-cluster operations daemon for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/autonomic/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
COPY --from=build /opt/autonomic /opt/autonomic
# Defaults for running the image on its own; in the cluster the ConfigMaps are mounted
# over /etc/autonomic/autonomic.yaml and /etc/autonomic/runbooks.
COPY manifests/config/autonomic.yaml /etc/autonomic/autonomic.yaml
COPY runbooks/ /etc/autonomic/runbooks/
RUN mkdir -p /var/lib/autonomic \
    && chown 65532:65532 /var/lib/autonomic \
    && chmod 0750 /var/lib/autonomic
USER 65532:65532
WORKDIR /tmp
VOLUME ["/var/lib/autonomic"]
EXPOSE 8080
ENTRYPOINT ["autonomic"]
CMD ["run", "--config", "/etc/autonomic/autonomic.yaml"]
