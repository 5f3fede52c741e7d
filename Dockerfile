# syntax=docker/dockerfile:1
# One image holds every reportd binary: api (the default entrypoint), worker,
# reportctl and s3bucket (creates the bucket). docker-compose.yml picks one
# per service with `entrypoint:`.

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so code edits do not invalidate the module cache layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/ \
        ./cmd/api ./cmd/worker ./cmd/reportctl ./scripts/s3bucket

# distroless/static: CA certificates (https webhooks, AWS S3) and tzdata,
# no shell, runs as an unprivileged user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
# API_ADDR and WORKER_METRICS_ADDR default to 127.0.0.1, which is unreachable
# from outside a container.
ENV API_ADDR=0.0.0.0:8080 \
    WORKER_METRICS_ADDR=0.0.0.0:9091
EXPOSE 8080 9091
ENTRYPOINT ["/usr/local/bin/api"]
