# Samsa broker/coordinator/CLI image, built from this repository.
#   docker build -t samsa .
#   docker run --rm samsa --help
#   docker run --rm samsa broker start --help
# docker-compose.yml builds it for its brokers and its embedded coordinator.
FROM node:24-bookworm-slim AS build
WORKDIR /app
# The manifests first, so the dependency layer is rebuilt only when they change. `npm ci` needs every
# workspace's package.json that package-lock.json names. Install scripts are skipped: the native
# packages (CRC-32C, snappy, lz4) ship prebuilt binaries as optional dependencies, and the scripts
# that remain (protobufjs' version notice, ssh2/cpu-features for the testcontainers dev dependency)
# are not needed and would want a compiler this image does not have.
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/coordinator/package.json packages/coordinator/
COPY packages/broker/package.json packages/broker/
COPY packages/client/package.json packages/client/
COPY packages/cli/package.json packages/cli/
RUN npm ci --ignore-scripts --no-audit --no-fund
# proto/ must sit at /app/proto: packages/protocol/dist/grpc/load.js loads ../../../../proto/.
COPY proto proto
COPY packages packages
RUN npx tsc -b && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
# Data lives in a volume; the broker and coordinator write nothing elsewhere. The directory belongs
# to the unprivileged `node` user of the base image, and a new named volume takes that ownership.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# 9092: a broker's default listener; 2181: the coordinator's client port.
EXPOSE 9092 2181
ENTRYPOINT ["node", "/app/packages/cli/dist/main.js"]
CMD ["--help"]
