# sipphone container image.
#
#   docker-compose build && docker-compose up -d     (see docker-compose.yml)
#   docker build -t sipphone .
#
# Stages: "build" compiles a static binary (CGO_ENABLED=0) with the Go
# toolchain image and lays out the root filesystem (deploy/make-rootfs.sh);
# "runtime" is that filesystem on an empty base (scratch): the binary, a
# non-root user, nothing else. No shell, no package manager, no CA
# certificates (sipphone makes no TLS connections).
#
# ROOTFS selects where "runtime" takes its filesystem from: the "build"
# stage (default), or "prebuilt", a directory of the build context named by
# PREBUILT and laid out on the host by deploy/make-rootfs.sh around a
# cross-built binary. `make release` lays out dist/rootfs/linux-amd64,
# dist/rootfs/linux-arm64 and dist/rootfs/linux-armv7, so an image for
# another architecture needs no emulation (the runtime stage runs nothing):
#
#   make release
#   docker build --platform linux/arm64 --build-arg ROOTFS=prebuilt \
#     --build-arg PREBUILT=dist/rootfs/linux-arm64 --target runtime -t sipphone:arm64 .
#
# Every stage builds from a fresh clone, as docker-compose 1.29's classic
# builder (which builds all stages, used or not) needs: PREBUILT's default
# is a directory every clone has, copied by the unused stage and ignored.
# buildah and podman before 1.29 need --build-arg ROOTFS=build spelled out:
# they do not resolve a stage named by an argument's default value.

ARG GO_VERSION=1.26
ARG ROOTFS=build
ARG PREBUILT=deploy

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ARG COMMIT=""
ARG BUILD_DATE=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${BUILD_DATE}" \
      -o /out/sipphone ./cmd/sipphone \
 && sh deploy/make-rootfs.sh /out/sipphone /rootfs

FROM scratch AS prebuilt
ARG PREBUILT
COPY ${PREBUILT}/ /rootfs/

FROM ${ROOTFS} AS rootfs

FROM scratch AS runtime
COPY --from=rootfs /rootfs/root/ /
# The writable directories belong to the user; named volumes mounted there
# start with this ownership.
COPY --from=rootfs --chown=10001:10001 /rootfs/state /var/lib/sipphone
COPY --from=rootfs --chown=10001:10001 /rootfs/logs /var/log/sip_phone
USER 10001:10001
# The state file defaults to $XDG_STATE_HOME/sipphone/state.json, here
# /var/lib/sipphone/state.json; server.state_file in the configuration
# still wins. The configuration is read from /etc/sip_phone/config.yml
# (mount it there) or runs on built-in defaults.
ENV XDG_STATE_HOME=/var/lib HOME=/var/lib/sipphone
WORKDIR /var/lib/sipphone
VOLUME ["/var/lib/sipphone", "/var/log/sip_phone"]
# SIP, REST, WebSocket; RTP uses UDP 10000-20000. Run with host
# networking: SIP and RTP over UDP break behind Docker's bridge NAT.
EXPOSE 5060/udp 5060/tcp 8000/tcp 8001/tcp
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/sipphone", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sipphone"]
CMD ["serve"]
