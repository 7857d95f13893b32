# Bascule server image, built entirely inside Docker (needs a registry for the base image
# and the internet for rustup): docker build -t bascule .
#
# On a machine that reaches only package registries (as the project's CI machines), use
# scripts/image.sh instead: a debootstrap base, the host's cargo, deploy/image/Dockerfile.
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
