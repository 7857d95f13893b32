# Bascule server image.
#
# Where a registry is reachable: docker build -t bascule .
# Without one (as on the project's CI machines), build a Debian base locally first:
#   scripts/docker-base.sh && docker build --build-arg BASE=bascule-base:bookworm -t bascule .
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      curl ca-certificates build-essential libclang-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
RUN curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
ENV PATH=/root/.cargo/bin:$PATH
WORKDIR /src
COPY . .
RUN cargo build --release --bin bascule

FROM ${BASE}
RUN useradd --system --home /var/lib/bascule bascule && mkdir -p /var/lib/bascule && chown bascule /var/lib/bascule
COPY --from=build /src/target/release/bascule /usr/local/bin/bascule
USER bascule
ENV BASCULE_DATA_DIR=/var/lib/bascule BASCULE_S3_LISTEN=0.0.0.0:9000 BASCULE_ADMIN_LISTEN=0.0.0.0:9001
EXPOSE 9000 9001
VOLUME ["/var/lib/bascule"]
ENTRYPOINT ["bascule"]
CMD ["serve"]
