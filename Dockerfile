# syntax=docker/dockerfile:1
# One image for all three Hulin services (patrol, incidents, notify); the service is chosen by the
# argument:  docker run hulin patrol   |   docker run hulin incidents   |   docker run hulin notify
#
# Two stages: the builder resolves and installs every Python dependency into /opt/venv; the runtime
# stage copies only that venv and two small scripts onto a clean python:3.11-slim. No compiler, pip
# cache or source tree reaches the runtime image. Pin the base images by digest in your registry
# mirror if your change process asks for reproducible builds (see docs/deploying.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

########################################################################################## builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Same path in both stages: a venv records its own location in its scripts (bin/uvicorn's shebang).
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, from the lock file alone (pinned, hashed: the same versions `make test`
# proved): this layer is rebuilt only when the lock changes, not on every code change. Every
# dependency ships manylinux wheels for CPython 3.11, so no build tools are needed even here.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

# Then the code itself. A regular (not editable) install: the runtime imports from site-packages,
# together with the package data (the demo district and the default policy), so /src is not needed.
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-deps . \
 && python -c "import services.patrol.app, services.incidents.app, services.notify.app"

########################################################################################## runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="hulin" \
      org.opencontainers.image.description="Hulin (护林): patrol, incidents and notify services of the forest-chief system" \
      org.opencontainers.image.licenses="Proprietary"

# A fixed, high uid/gid that matches runAsUser in deploy/k8s: no clash with host users, and the
# Kubernetes runAsNonRoot check can verify it numerically.
RUN groupadd --system --gid 10001 hulin \
 && useradd --system --uid 10001 --gid hulin --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin hulin

COPY --from=builder /opt/venv /opt/venv
COPY --chmod=0555 deploy/docker/entrypoint.sh /usr/local/bin/hulin-entrypoint
COPY --chmod=0444 deploy/docker/healthcheck.py deploy/docker/wait_for_topics.py /usr/local/lib/hulin/

# PYTHONDONTWRITEBYTECODE: the root filesystem is read-only in Kubernetes, so never try to write
# .pyc files. PYTHONUNBUFFERED: logs reach `docker logs` / the node's log collector at once.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HULIN_HOST=0.0.0.0

WORKDIR /tmp
USER 10001:10001

# patrol, incidents, notify (one per container).
EXPOSE 8001 8002 8003

# Liveness only (/healthz): readiness (/readyz) depends on Kafka and MongoDB and must not get a
# container restarted when the broker is away. Kubernetes ignores this and uses its own probes.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "/usr/local/lib/hulin/healthcheck.py"]

# SIGTERM is what uvicorn handles gracefully; say so explicitly (it is also Docker's default).
STOPSIGNAL SIGTERM

ENTRYPOINT ["/usr/local/bin/hulin-entrypoint"]
CMD ["--help"]
