# One image recipe for every Hoist service: `docker build --target api .` (or builder, deployer, notifier).
FROM node:20-slim AS workspace
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH CI=true
RUN npm i -g pnpm@12.4.2
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml turbo.json tsconfig.base.json ./
COPY packages/shared/package.json packages/shared/
COPY services/api/package.json services/api/
COPY services/builder/package.json services/builder/
COPY services/deployer/package.json services/deployer/
COPY services/notifier/package.json services/notifier/
RUN pnpm install --frozen-lockfile
COPY packages packages
COPY services services
RUN node_modules/.bin/turbo run build

FROM node:20-slim AS runtime
ENV NODE_ENV=production HOIST_DATA_DIR=/data
WORKDIR /app
COPY --from=workspace /app /app
# Data and the master key: the node user's alone (0700); the key file itself is created 0600.
RUN install -d -m 0700 -o node -g node /data /secrets
# Probes the service's own /healthz (the API's port, or a worker's HOIST_HEALTH_PORT).
COPY <<'JS' /app/healthcheck.mjs
const port = process.env.HOIST_PORT_PROBE ?? process.env.HOIST_HEALTH_PORT ?? process.env.HOIST_PORT ?? "8080";
fetch(`http://127.0.0.1:${port}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));
JS
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "/app/healthcheck.mjs"]
STOPSIGNAL SIGTERM

FROM runtime AS api
USER node
ENV HOIST_PORT=8080
EXPOSE 8080
CMD ["node", "services/api/dist/main.js"]

FROM runtime AS builder
# git and ssh fetch the pushed commit with the app's deploy key; builds go through the Docker API socket.
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client ca-certificates && rm -rf /var/lib/apt/lists/*
ENV HOIST_HEALTH_PORT=9090
CMD ["node", "services/builder/dist/main.js"]

FROM runtime AS deployer
# Runs as root: it drives the host's Docker socket for the local target.
ENV HOIST_HEALTH_PORT=9091
CMD ["node", "services/deployer/dist/main.js"]

FROM runtime AS notifier
USER node
ENV HOIST_HEALTH_PORT=9090
CMD ["node", "services/notifier/dist/main.js"]
