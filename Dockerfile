# The DatenLord image: the `datenlord` binary (mounts, the CSI driver, the S3 gateway, cache
# nodes, the admin commands) on Debian with fuse3. Build from the repository's root:
#   docker build -t datenlord/datenlord:0.1.0 .
FROM rust:1.95-bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        protobuf-compiler libprotobuf-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p datenlord \
    && install -m 0755 target/release/datenlord /usr/local/bin/datenlord

FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        fuse3 ca-certificates util-linux \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/datenlord /usr/local/bin/datenlord
# mount(8) finds the helper by the filesystem type: `mount -t datenlord`.
RUN ln -s /usr/local/bin/datenlord /sbin/mount.datenlord
ENV DATENLORD_HOME=/var/lib/datenlord
ENTRYPOINT ["/usr/local/bin/datenlord"]
CMD ["--help"]
