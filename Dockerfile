# Multi-stage build of custval-server: a full Rust toolchain to build, a slim runtime to run.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p custval-server

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 custval && mkdir -p /data && chown custval /data
COPY --from=build /src/target/release/custval-server /usr/local/bin/custval-server
USER custval
ENV CUSTVAL_LISTEN=0.0.0.0:50051 CUSTVAL_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 50051
# The service answers grpc.health.v1; the probe binary arrives with the service issue, so
# until then the check is that the port accepts connections.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s CMD bash -c '</dev/tcp/127.0.0.1/50051' || exit 1
ENTRYPOINT ["custval-server"]
