# SecureCam Hub container image: one static binary, no shell.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t securecam .
#   docker run -p 8080:8080 -v securecam-data:/data securecam
#
# Embedded mode keeps its SQLite database and recordings in the /data volume. For cluster
# mode pass SECURECAM_DATABASE_URL and SECURECAM_REDIS_URL (docs/configuration.md).
#
# The image runs as uid 65532. A bind-mounted data directory must be writable by it:
#   sudo chown -R 65532:65532 /srv/securecam    (or docker run --user "$(id -u):$(id -g)")
#   docker run -p 8080:8080 -v /srv/securecam:/data securecam
#
# The embedded TURN server (off unless configured) uses the exposed 3478 and relay ports:
#   -e SECURECAM_TURN_ADDR=:3478 -e SECURECAM_TURN_SECRET=… -e SECURECAM_TURN_PUBLIC_IP=…
#   -e SECURECAM_TURN_RELAY_PORTS=49160-49200 -p 3478:3478/udp -p 3478:3478/tcp
#   -p 49160-49200:49160-49200/udp

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
        -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/securecam ./cmd/securecam \
    && mkdir /out/data

# distroless/static: CA certificates, time zones and /tmp, nothing else; runs as
# nonroot (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/securecam /usr/local/bin/securecam
COPY --from=build --chown=65532:65532 /out/data /data
ENV SECURECAM_DATA_DIR=/data \
    SECURECAM_HTTP_ADDR=:8080
VOLUME /data
EXPOSE 8080 3478/udp 3478/tcp 49160-49200/udp
USER nonroot:nonroot
# distroless has no curl: the binary asks its own /readyz.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/securecam", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/securecam"]
