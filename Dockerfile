# Multi-stage build of custval-server: a full Rust toolchain to build, a slim runtime to run.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p custval-server

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 custval && mkdir -p /data && chown custval /data
COPY --from=build /src/target/release/custval-server /usr/local/bin/custval-server
USER custval
ENV CUSTVAL_LISTEN=0.0.0.0:50051 CUSTVAL_DATA_DIR=/data \
    CUSTVAL_METRICS_LISTEN=0.0.0.0:9464 CUSTVAL_LOG_FORMAT=json
VOLUME ["/data"]
# gRPC, Prometheus metrics.
EXPOSE 50051 9464
# grpc.health.v1 Check through the server binary itself: healthy only when SERVING.
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s CMD ["custval-server", "--probe"]
ENTRYPOINT ["custval-server"]
