# syntax=docker/dockerfile:1
# Divisor's container image (docs/docker.md):
#   docker build -t divisor .
#   docker run -p 8080:8080 -e DIVISOR_ADMIN_TOKEN=$(openssl rand -hex 24) \
#     -v $PWD/divisor.yaml:/etc/divisor/divisor.yaml:ro divisor
#
# Three stages: `build` bundles the CLI with every dependency, `deps` installs the
# production dependencies only, and the image takes the bundle and those
# node_modules on a clean Node base, running as the unprivileged `node` user (uid 1000).
#
# test/deploy/dockerfile.test.ts runs these steps (COPY, RUN, ENV, WORKDIR, the
# ENTRYPOINT/CMD and the HEALTHCHECK) as a script in a temp dir, so keep every RUN
# step on paths relative to its WORKDIR.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY scripts ./scripts
COPY src ./src
COPY defaults ./defaults
# The image runs only the CLI: its bundle (and V8 code cache) is all the build it needs;
# the library's dist/*.js and .d.ts are for npm users.
RUN node scripts/build-cli.mjs

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The bundle requires a few production dependencies at run time (OpenTelemetry when
# tracing is on, ioredis for Redis stores, pino-pretty on a terminal): install them, no
# dev dependencies, no install scripts.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/cli ./dist/cli
COPY package.json ./
COPY defaults ./defaults
COPY schema ./schema
COPY deploy/docker/healthcheck.cjs ./healthcheck.cjs
COPY deploy/docker/divisor.yaml /etc/divisor/divisor.yaml
# A numeric user, so Kubernetes can check runAsNonRoot without a runAsUser.
USER 1000:1000
EXPOSE 8080 9901
# The admin API's /readyz (no token needed): 503 while starting or draining.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["node", "/app/healthcheck.cjs"]
# The launcher's shebang carries the Node flags the gateway is measured with; it
# execs node, which becomes PID 1 and handles SIGTERM (graceful stop) and SIGHUP (reload).
ENTRYPOINT ["/app/dist/cli/divisor.cjs"]
CMD ["start", "-c", "/etc/divisor/divisor.yaml"]
