# winpod webhook image. Build from the repository root:
#   docker build -t REGISTRY/winpod:0.1.0 .
# Two stages: the first builds winpod's wheel (the rule catalog inside it, as package data) and
# installs it with its dependencies into a virtualenv (binary wheels, no compiler); the second
# copies just that virtualenv.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY policies ./policies
# Byte-code is compiled here because the root filesystem is read-only at run time; pip itself
# is removed (nothing installs at run time).
RUN python -m venv /opt/winpod \
    && /opt/winpod/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/dist . \
    && /opt/winpod/bin/pip install --no-cache-dir --prefer-binary /tmp/dist/winpod-*.whl \
    && /opt/winpod/bin/pip uninstall --yes pip \
    && /opt/winpod/bin/python -m compileall -q /opt/winpod/lib

FROM python:3.11-slim
LABEL org.opencontainers.image.title="winpod" \
      org.opencontainers.image.description="Windows-aware admission control for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
# Nothing is written at run time: no .pyc, unbuffered logs straight to stdout.
ENV PATH=/opt/winpod/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /opt/winpod /opt/winpod
# A numeric non-root user, so the kubelet can check runAsNonRoot without a passwd entry.
USER 65532:65532
EXPOSE 8443
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz.
ENTRYPOINT ["winpod", "serve"]
CMD ["--config=/etc/winpod/config.yaml", "--cert-file=/etc/winpod/tls/tls.crt", "--key-file=/etc/winpod/tls/tls.key", "--port=8443"]
