# Samsa broker/coordinator/CLI image, built from this repository.
#   docker build -t samsa .
#   docker run --rm samsa --help
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/coordinator/package.json packages/coordinator/
COPY packages/broker/package.json packages/broker/
COPY packages/client/package.json packages/client/
COPY packages/cli/package.json packages/cli/
RUN npm ci --no-audit --no-fund
COPY proto proto
COPY packages packages
RUN npx tsc -b && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
# Data lives in a volume; the broker and coordinator write nothing elsewhere.
VOLUME ["/data"]
EXPOSE 9092 2181
ENTRYPOINT ["node", "/app/packages/cli/dist/main.js"]
CMD ["--help"]
