# syntax=docker/dockerfile:1
#
# One build, two images (docs/image.md):
#   docker build --target operator -t ghcr.io/ldc-operator/ldc-operator:0.1.0 .   # node dist/src/main.js (and ldc-relay: dist/src/relay/main.js)
#   docker build --target sidecar  -t ghcr.io/ldc-operator/ldc-sidecar:0.1.0 .    # node dist/src/sidecar/main.js
# Two targets rather than one image with two commands: the operator injects
# the sidecar container without a command, so the sidecar image's entrypoint
# must be the sidecar. Both run as uid 65532 on a distroless Node 24 with only
# production dependencies. hack/check-image-layout.sh checks the runtime
# layout without building an image.

# glibc, because `npm ci` installs the pinned Node (the `node-linux-*` optionalDependencies,
# docs/adr/0001) and the build runs on it, as everywhere else.
# RUNTIME_IMAGE must be a distroless nodejs24 variant (the entrypoints call
# /nodejs/bin/node); pin both by digest for a release.
ARG BUILD_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# ------------------------------------------------------------------ build
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --------------------------------------------------- production node_modules
FROM ${BUILD_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# No dev dependencies (so not the `node` package either: the runtime image
# provides Node 24); no install scripts (no production dependency needs one).
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

# ---------------------------------------------------------------- runtime
FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production
# package.json: "type": "module" makes dist/**/*.js ES modules.
COPY --from=prod-deps /app/package.json ./package.json
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# Numeric, so Kubernetes can verify runAsNonRoot; the chart sets the same.
USER 65532:65532

FROM runtime AS sidecar
EXPOSE 15001
# A 2 MB young generation holds a burst of large requests to ~120 MB RSS
# instead of ~250 MB (the injected limit is sized on it), at no measurable CPU
# cost; the old generation is capped far above its live ~10 MB
# (docs/adr/0015-sidecar-footprint.md, bench/sidecar-footprint.ts reads these flags).
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=2", "--max-old-space-size=64", "dist/src/sidecar/main.js"]

# Last, so a plain `docker build .` builds the operator.
FROM runtime AS operator
EXPOSE 8080
# --optimize-for-size: V8 keeps a small young generation and returns heap after
# the initial list; watching 10,000 Deployments takes ~180 MB RSS instead of
# ~300 MB (bench/operator-memory.ts).
ENTRYPOINT ["/nodejs/bin/node", "--optimize-for-size", "dist/src/main.js"]
