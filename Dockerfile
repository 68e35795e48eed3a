# Multi-stage build of custval-server: a full Rust toolchain to build, a slim runtime to run.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p custval-server

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 custval && mkdir -p /data && chown custval /data && chmod 700 /data
COPY --from=build /src/target/release/custval-server /usr/local/bin/custval-server
USER custval
# Listening beyond loopback needs a token: mount one as a secret and point
# CUSTVAL_AUTH_TOKEN_FILE at it (e.g. /run/secrets/custval_token), or set
# CUSTVAL_ALLOW_UNAUTHENTICATED=true where a network policy guards the port. Without
# either the server refuses to start and says so. With TLS, the health check verifies the
# certificate with CUSTVAL_PROBE_CA (default: the --tls-cert chain) for CUSTVAL_PROBE_DOMAIN.
ENV CUSTVAL_LISTEN=0.0.0.0:50051 CUSTVAL_DATA_DIR=/data \
    CUSTVAL_METRICS_LISTEN=0.0.0.0:9464 CUSTVAL_LOG_FORMAT=json
VOLUME ["/data"]
# gRPC, Prometheus metrics.
EXPOSE 50051 9464
# grpc.health.v1 Check through the server binary itself: healthy only when SERVING.
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s CMD ["custval-server", "--probe"]
ENTRYPOINT ["custval-server"]
