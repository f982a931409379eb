# SecureCam Hub container image: one static binary, no shell.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t securecam .
#   docker run -p 8080:8080 -v securecam-data:/data securecam
#
# Embedded mode keeps its SQLite database and recordings in the /data volume. For cluster
# mode pass SECURECAM_DATABASE_URL and SECURECAM_REDIS_URL (docs/configuration.md).

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
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/securecam"]
