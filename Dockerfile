# herald container: `docker run IMAGE run jobs/welcome.yaml`, `docker run -p 8080:8080 IMAGE serve`.
# Jobs, SQL and config are baked in from the repo; mount over /app/jobs, /app/sql or set
# HERALD_CONFIG to use others. The default DuckDB warehouse lives on the /data volume.

# ---- build: all dependencies, compile TypeScript to dist/ ------------------------------------
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own `prepare` would run the build before the sources are copied.
# No dependency has an install script (DuckDB's addon ships prebuilt per platform as an optional
# dependency), so nothing else is skipped.
RUN npm install --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
COPY bench ./bench
RUN npm run build

# ---- runtime: production dependencies + compiled output ---------------------------------------
FROM node:22-slim
ENV NODE_ENV=production \
    HERALD_WAREHOUSE_URL=duckdb:/data/warehouse.duckdb \
    HERALD_PORT=8080
WORKDIR /app
RUN groupadd --system herald \
 && useradd --system --gid herald --home-dir /app --no-create-home --shell /usr/sbin/nologin herald \
 && mkdir -p /data \
 && chown herald:herald /data
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (the build) needs devDependencies; dist/ comes from the build stage.
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund \
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
USER herald
EXPOSE 8080
# Only meaningful for `herald serve`; one-shot `herald run` containers exit before the first check.
# slim has no curl: use node's fetch. HERALD_PORT is read at check time, so `-e HERALD_PORT=…` works.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HERALD_PORT || '8080') + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/herald.js"]
CMD ["--help"]
