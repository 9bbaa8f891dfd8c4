# Mask R-CNN inference service: GPU image (CUDA 12 + cuDNN 9 runtime, onnxruntime-node CUDA EP).
# The same image serves on a CPU-only host: EXECUTION_PROVIDER=auto falls back to the CPU EP.
#
#   docker build -t maskrcnn-serve .                   # needs BuildKit (RUN --mount); see docs/docker.md
#   docker run --gpus all -p 8080:8080 maskrcnn-serve  # GPU host (NVIDIA Container Toolkit)
#   docker run -p 8080:8080 maskrcnn-serve             # CPU host
#
# No "# syntax=" line on purpose: the builder's built-in Dockerfile frontend is used, so a build
# never has to pull a frontend image (the local stand-in test runs with no registry at all).
#
# Build arguments
#   NODE_BASE     image providing node + npm at /usr/local/{bin,lib} (official node images do):
#                 Node.js 24 LTS (package.json: node >= 22.13). Used for the build stages; only
#                 /usr/local/bin/node is copied into the runtime.
#   RUNTIME_BASE  the runtime OS image: CUDA 12.x runtime + cuDNN 9 (onnxruntime-node 1.30's CUDA
#                 EP is built for CUDA 12 / cuDNN 9; any 12.x runtime works). glibc >= 2.28.
#   ORT_CUDA      cuda12 (default): install onnxruntime-node's CUDA 12 EP (downloaded from the
#                 NuGet feed api.nuget.org by the package's own install script; ~hundreds of MB).
#                 skip: CPU-only onnxruntime (what the package bundles), e.g. when NuGet is unreachable.
# Build secret (optional, never stored in any layer)
#   npm_ca        a PEM CA bundle trusted by npm and the ORT download, for builds behind a
#                 TLS-intercepting proxy: --secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt
ARG NODE_BASE=node:24-bookworm-slim
ARG RUNTIME_BASE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

# ---------------------------------------------------------------------------------------------
FROM ${NODE_BASE} AS node

# ---------------------------------------------------------------------------------------------
# Production node_modules (no dev deps) + the CUDA EP. Depends only on the lockfile, so source
# edits do not re-download anything.
FROM ${NODE_BASE} AS deps
ARG ORT_CUDA=cuda12
WORKDIR /app
# `npm ci` never downloads the CUDA EP by itself: package.json's allowScripts denies
# onnxruntime-node's install script (npm >= 11.16; Node 24.21 ships npm 11.19), and
# ONNXRUNTIME_NODE_INSTALL=skip makes that script a no-op should an older npm in NODE_BASE run it
# anyway. The CUDA EP is installed explicitly below.
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false \
    ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm_ca,required=false \
    set -eu; \
    if [ -s /run/secrets/npm_ca ]; then \
      export npm_config_cafile=/run/secrets/npm_ca NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; \
    fi; \
    npm ci --omit=dev --no-audit --no-fund
RUN --mount=type=secret,id=npm_ca,required=false \
    set -eu; \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi; \
    ort=node_modules/onnxruntime-node; \
    bin="$ort/bin/napi-v6/linux/$(node -p process.arch)"; \
    case "$ORT_CUDA" in \
      skip|none|cpu|'') \
        echo "onnxruntime-node: CUDA EP NOT installed (ORT_CUDA=$ORT_CUDA): CPU execution provider only";; \
      cuda12) \
        ONNXRUNTIME_NODE_INSTALL=cuda12 node "$ort/script/install.js"; \
        test -s "$bin/libonnxruntime_providers_cuda.so" && test -s "$bin/libonnxruntime_providers_shared.so" \
          || { echo "onnxruntime-node CUDA EP install failed: no $bin/libonnxruntime_providers_cuda.so" >&2; exit 1; }; \
        echo "onnxruntime-node: CUDA 12 EP installed:"; ls -l "$bin";; \
      *) echo "ORT_CUDA must be cuda12 or skip (got '$ORT_CUDA')" >&2; exit 1;; \
    esac; \
    rm -rf /tmp/onnxruntime-node-pkgs_*; \
    # onnxruntime-node bundles darwin/win32/linux-arm64 binaries too (~245 MB): keep this platform's.
    for d in "$ort"/bin/napi-v6/*/*; do \
      [ "$d" = "$bin" ] || rm -rf "$d"; \
    done; \
    test -s "$bin/onnxruntime_binding.node"

# ---------------------------------------------------------------------------------------------
# TypeScript -> dist/ (full install incl. dev deps; only dist/ leaves this stage).
FROM ${NODE_BASE} AS build
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false \
    ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm_ca,required=false \
    set -eu; \
    if [ -s /run/secrets/npm_ca ]; then \
      export npm_config_cafile=/run/secrets/npm_ca NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; \
    fi; \
    npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && test -f dist/src/server.js

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_BASE} AS runtime
ARG ORT_CUDA=cuda12
# The CUDA base images ship an entrypoint script that prints a banner; node runs as PID 1 instead
# so SIGTERM from `docker stop` reaches the server's graceful shutdown directly.
ENTRYPOINT []
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN set -eu; \
    node --version; \
    groupadd --system --gid 10001 app; \
    useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app; \
    mkdir -p /data; chown app:app /data; chmod 0750 /data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
# The dashboard page's static files (HTML template, ES module, CSS): served by GET /dashboard, not compiled.
COPY src/ui ./dist/src/ui
COPY openapi ./openapi
# The default model (models/shapes): model.onnx + manifest.json (.dockerignore drops *.pt etc.).
COPY models ./models
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    EXECUTION_PROVIDER=auto \
    MODEL_DIR=/app/models \
    MODEL_NAME=shapes \
    DATA_DIR=/data
# The embedded store (SQLite) lives here: mount a volume to keep jobs across container restarts,
# or set DATABASE_URL to use PostgreSQL instead.
VOLUME ["/data"]
LABEL org.opencontainers.image.title="maskrcnn-serve" \
      org.opencontainers.image.description="Mask R-CNN ONNX inference service (Fastify + onnxruntime-node)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      maskrcnn-serve.ort-cuda-ep="${ORT_CUDA}"
USER app
EXPOSE 8080
STOPSIGNAL SIGTERM
# Ready = model loaded (and warmed up). No curl in the image: node's fetch does it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health/ready',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/server.js"]
