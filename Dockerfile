# syntax=docker/dockerfile:1
#
# Container image of tencent-live-exporter: a wheel built in a throwaway stage, installed into a
# slim Python image that runs as an unprivileged user (uid/gid 65532) and has no build tools.
#
#   docker build -t tencent-live-exporter:0.1.0 .
#   docker run --rm -p 9879:9879 tencent-live-exporter:0.1.0 --demo --web.listen-address=:9879
#   docker run --rm -p 9879:9879 \
#     -v "$PWD/config.yaml:/etc/tencent-live-exporter/config.yaml:ro" \
#     -e TENCENTCLOUD_SECRET_ID -e TENCENTCLOUD_SECRET_KEY \
#     tencent-live-exporter:0.1.0
#
# Files the container reads (mount them read-only):
#   /etc/tencent-live-exporter/config.yaml       the configuration (required, except with --demo)
#   /etc/tencent-live-exporter/web-config.yml    optional TLS / basic auth web config; pass
#       --web.config.file=/etc/tencent-live-exporter/web-config.yml after the image name, together
#       with the two default flags (arguments replace the whole CMD below)
#   /home/nonroot/.tencentcloud/credentials      optional Tencent Cloud SDK profile (INI, [default]
#       secret_id/secret_key), used by accounts without a `credentials` block through the SDK's
#       default chain; or pass TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY in the environment
#   /etc/tencent-live-exporter/config.example.yaml   the documented example (shipped, not read)
#
# No VOLUME is declared: nothing but short-lived files in /tmp (TLS set-up) is written at run
# time, so the root filesystem can be read-only: docker run --read-only --tmpfs /tmp, or
# Kubernetes readOnlyRootFilesystem with an emptyDir on /tmp (deploy/kubernetes does both).

# The base image is pinned by tag (Python minor version and Debian release). Pin it by digest as
# well where a registry is reachable, e.g. python:3.11-slim-bookworm@sha256:<digest>, and let
# a dependency bot bump both stages together.
FROM python:3.11-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only what the package build needs (.dockerignore keeps the rest of the tree out of the context),
# and constraints.txt, the lock of the runtime dependencies (scripts/lock rewrites it).
COPY pyproject.toml README.md MANIFEST.in config.example.yaml constraints.txt ./
COPY exporter ./exporter
# The exporter's wheel and a wheel of every dependency at its locked version: two builds of one
# commit install the same versions. The final stage installs these wheels, and only these, offline.
RUN pip wheel --constraint constraints.txt --wheel-dir /wheels .


FROM python:3.11-slim-bookworm

LABEL org.opencontainers.image.title="tencent-live-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Tencent Cloud CSS (live) stream state" \
      org.opencontainers.image.licenses="Apache-2.0"

# The wheels are bind-mounted from the builder stage, so they never become a layer of this image.
# pip, setuptools and wheel are removed afterwards: nothing installs packages at run time.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --disable-pip-version-check --no-index --find-links=/wheels \
        tencent-live-exporter \
    && pip uninstall --yes --disable-pip-version-check pip setuptools wheel \
    && groupadd --system --gid 65532 nonroot \
    && useradd --system --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home \
        --shell /usr/sbin/nologin nonroot \
    && mkdir -p /etc/tencent-live-exporter /home/nonroot/.tencentcloud \
    && chown 65532:65532 /home/nonroot/.tencentcloud \
    && chmod 0700 /home/nonroot/.tencentcloud

COPY config.example.yaml /etc/tencent-live-exporter/config.example.yaml

ENV HOME=/home/nonroot \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
WORKDIR /home/nonroot

EXPOSE 9879

# Python instead of curl/wget, which the slim image does not have. /-/healthy answers 200 while the
# process runs. With another --web.listen-address, or TLS, set HEALTHCHECK_URL to match (the
# certificate must then verify for 127.0.0.1). A web config with basic_auth_users protects
# /-/healthy too: then override the check (docker run --health-cmd ...) or use --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('HEALTHCHECK_URL', 'http://127.0.0.1:9879/-/healthy'), timeout=4)"]

ENTRYPOINT ["tencent-live-exporter"]
CMD ["--config.file=/etc/tencent-live-exporter/config.yaml", "--web.listen-address=:9879"]
