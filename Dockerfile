# syntax=docker/dockerfile:1
# Tessera: one image, both services (`tessera auth`, `tessera customers`).
#   docker build -t tessera .

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches survive between builds; the binary is copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tessera \
 && cp target/release/tessera /usr/local/bin/tessera

FROM debian:bookworm-slim
# CA roots for the captcha provider; nothing else is needed at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates=20230311* \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/tessera --create-home tessera
COPY --from=build /usr/local/bin/tessera /usr/local/bin/tessera
USER 10001
WORKDIR /var/lib/tessera
# Metrics and probes on admin ports (7003 token service, 7004 customer service), for the
# operator's network only: not EXPOSEd, so `docker run -P` does not publish them.
ENV TESSERA_DATA_DIR=/var/lib/tessera \
    TESSERA_AUTH_LISTEN=0.0.0.0:7001 \
    TESSERA_CUSTOMERS_LISTEN=0.0.0.0:7002 \
    TESSERA_ADMIN_LISTEN=0.0.0.0:7003 \
    TESSERA_CUSTOMERS_ADMIN_LISTEN=0.0.0.0:7004
EXPOSE 7001 7002
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 \
  CMD ["tessera", "healthcheck", "http://127.0.0.1:7003/healthz"]
ENTRYPOINT ["tessera"]
CMD ["auth"]
