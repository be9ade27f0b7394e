# syntax=docker/dockerfile:1
# didcomm-mesh node. Build: docker build -t didcomm-mesh .
# Run:   docker run -p 8080:8080 -p 4001:4001 -p 4002:4002 -v mesh-data:/data \
#          -e DIDCOMM_MESH_PUBLIC_URL=https://mediator.example.com didcomm-mesh
# A three-node mesh: docker compose up (docker-compose.yml). Operating it: docs/operating.md.

# 1. Build: every dependency, then `npm run build` (TypeScript to dist/, what the image runs).
FROM node:24-bookworm-slim AS build
WORKDIR /app
# patches/: fixes to dependencies that npm's postinstall (patch-package) applies.
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY client ./client
COPY config ./config
COPY didcomm ./didcomm
COPY node ./node
COPY protocols ./protocols
COPY storage ./storage
RUN npm run build

# 2. Production dependencies only.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund

# 3. The image: Node 24, tini as init, the built node, a non-root user, data in a volume.
FROM node:24-bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
# V8's young generation capped at 4 MB a semi-space (npm start's flag): the default lets it grow to
# 32 MB while the node starts and keeps it, ~20 MB of an idle node's RSS (docs/operating.md, Memory).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=4 \
    DIDCOMM_MESH_DATA_DIR=/data \
    DIDCOMM_MESH_HOST=0.0.0.0 \
    DIDCOMM_MESH_HTTP_PORT=8080 \
    DIDCOMM_MESH_P2P_PORT=4001 \
    DIDCOMM_MESH_P2P_WS_PORT=4002
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080 4001 4002
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:8080/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# tini forwards SIGTERM to the node, which drains and closes its store.
ENTRYPOINT ["tini", "--"]
CMD ["node", "dist/node/cli.js", "start"]
