# herald container: `docker run IMAGE run jobs/welcome.yaml`, `docker run -p 8080:8080 IMAGE serve`.
# Jobs, SQL and config are baked in from the repo (only jobs/demo.yaml and sql/demo.sql ship);
# mount your own over /app/jobs (they may keep their SQL next to them), or build a derived image:
#   FROM herald:0.1.0
#   COPY jobs/ /app/jobs/
# HERALD_CONFIG points at another config. The default DuckDB warehouse lives on the /data volume.

# ---- build: all dependencies, compile TypeScript to dist/ ------------------------------------
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci: exactly the lockfile (it fails rather than resolve anew when package.json and the lock
# disagree). --ignore-scripts: the package's own `prepare` would run the build before the sources
# are copied. No dependency has an install script (DuckDB's addon ships prebuilt per platform as
# an optional dependency, all of them recorded in the lock), so nothing else is skipped.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
COPY bench ./bench
RUN npm run build

# ---- runtime: production dependencies + compiled output ---------------------------------------
FROM node:22-slim
# MALLOC_ARENA_MAX: glibc makes a malloc arena per thread that allocates (DuckDB's and libuv's),
# ~40 MB of a real send's RSS in 13 arenas; two kept its base ~30 MB lower (BENCHMARKS.md, issue 14).
ENV NODE_ENV=production \
    HERALD_WAREHOUSE_URL=duckdb:/data/warehouse.duckdb \
    HERALD_PORT=8080 \
    MALLOC_ARENA_MAX=2
WORKDIR /app
# tini as PID 1: it forwards SIGTERM/SIGINT to herald and reaps children, for every command (run,
# serve, worker), with or without `docker run --init`. A numeric user (10001) so that Kubernetes'
# runAsNonRoot can verify it without a passwd lookup.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 herald \
 && useradd --system --uid 10001 --gid herald --home-dir /app --no-create-home --shell /usr/sbin/nologin herald \
 && mkdir -p /data \
 && chown 10001:10001 /data
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (the build) needs devDependencies; dist/ comes from the build stage.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config
COPY jobs ./jobs
COPY sql ./sql
# The shipped rate card (src/cost/rate-card.ts finds it next to dist/); costs.rate_card points elsewhere.
COPY data ./data
# Application files stay root-owned (read-only to the app); only /data is writable by herald.
# VOLUME after the chown above: changes to a volume path after VOLUME would be discarded.
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080
# No HEALTHCHECK: the same image runs one-shot `herald run` containers, which serve no HTTP, so an
# image-level check would mark them unhealthy (and an orchestrator acting on it would kill them).
# Check `herald serve` where it runs: Kubernetes probes /healthz and /readyz (deploy/k8s/herald.yaml);
# with plain Docker add it to the serve container only, e.g.
#   docker run --health-cmd "node -e \"fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))\"" IMAGE serve
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/herald.js"]
CMD ["--help"]
