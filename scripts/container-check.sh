#!/usr/bin/env bash
# Builds the container images without a Docker engine, with buildah (vfs
# storage, chroot isolation), and checks them:
#
#   0. docker-compose.yml parses (docker-compose config needs no engine);
#   1. every stage of the Dockerfile builds from a fresh clone (the tracked
#      files only, no dist/), as docker-compose 1.29's classic builder
#      builds them, used or not: buildah bud --skip-unused-stages=false.
#      No container registry is reachable here, so the golang base image is
#      a local stand-in tagged with its name (docker.io/library/golang:
#      1.26-bookworm): this host's Go toolchain, /bin/sh and the few tools
#      deploy/make-rootfs.sh uses; the Dockerfile's instructions are
#      unchanged. The image it makes must run `sipphone --version`;
#   2. the runtime images for linux/amd64 and linux/arm64 are built from the
#      cross-built release binaries (scripts/release.sh lays out
#      dist/rootfs/linux-*; --platform, --build-arg ROOTFS=prebuilt
#      PREBUILT=dist/rootfs/linux-ARCH --target runtime); each image's
#      architecture and its binary's ELF machine must match the platform;
#      the arm64 binary inside the image runs `--version` and `check` under
#      qemu-aarch64 when qemu-user is installed (no binfmt_misc needed);
#   3. the amd64 image's user, entrypoint, health check, volumes and ports
#      are checked, and the writable directories' ownership;
#   4. inside the amd64 image: `sipphone check` with a configuration mounted at
#      /etc/sip_phone/config.yml, then the server (as the image's non-root
#      user, host network, logging to /var/log/sip_phone/api.log); it must
#      answer /healthz, /readyz and /status on loopback, and the image's
#      HEALTHCHECK command must pass; SIGTERM must stop it cleanly; the log
#      and state files must be written, as the image's user, into the
#      volumes buildah seeds from the image.
#
# Not exercised here: the real golang image (no registry), a Docker engine
# (docker-compose up, Docker's HEALTHCHECK scheduler, restart policy, named
# volumes, read_only/cap_drop), running the arm64 image on an ARM host, the
# host network of a real LAN.
#
#   scripts/container-check.sh                     builds dist/ for amd64 and arm64 first
#   SIPPHONE_DIST=dist scripts/container-check.sh  uses a dist/ already built (make release)
#
# Needs root (CI runs as root) and installs buildah (and docker-compose,
# optional) with apt-get when missing. Bounded: every step has a timeout.
# Prints one PASS/FAIL line per check and "N passed, N failed" at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

passed=0
failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
die() { fail "$*"; summary; exit 1; }
summary() { echo "container-check: $passed passed, $failed failed"; }

if [ "$(id -u)" != 0 ]; then
  echo "container-check: run as root (buildah with vfs storage and chroot isolation)" >&2
  exit 1
fi
missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq
  timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    command -v buildah >/dev/null # docker-compose is optional
fi

work=$(mktemp -d /tmp/sipphone-container-check.XXXXXX)
B=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
ctr=""
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$ctr" ]; then
    timeout 60 "${B[@]}" umount "$ctr" >/dev/null 2>&1 || true
    timeout 60 "${B[@]}" rm "$ctr" >/dev/null 2>&1 || true
  fi
  timeout 60 "${B[@]}" rmi -a -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== buildah $(buildah --version | awk '{print $3}')"

# 0. docker-compose.yml is valid (docker-compose parses it without an engine).
if command -v docker-compose >/dev/null; then
  if out=$(timeout 60 docker-compose -f docker-compose.yml config 2>&1); then
    for want in "network_mode: host" "restart: unless-stopped" "target: runtime" \
      ":/etc/sip_phone/config.yml:ro" "sipphone-state:/var/lib/sipphone" "sipphone-logs:/var/log/sip_phone"; do
      grep -qF -- "$want" <<<"$out" || fail "compose  docker-compose config lacks '$want'"
    done
    pass "compose  docker-compose.yml valid ($(docker-compose version --short 2>/dev/null))"
  else
    fail "compose  docker-compose config: $out"
  fi
else
  echo "SKIP compose  docker-compose not installed"
fi

# 1. Every stage, from a fresh clone, with a local stand-in for the golang image.
go_version=$(sed -n 's/^ARG GO_VERSION=//p' Dockerfile)
golang_image=docker.io/library/golang:$go_version-bookworm
goroot=$(go env GOROOT)
base=$(timeout 60 "${B[@]}" from scratch)
bmnt=$(timeout 60 "${B[@]}" mount "$base")
mkdir -p "$bmnt/usr/local" "$bmnt/bin" "$bmnt/tmp" "$bmnt/etc/ssl/certs" "$bmnt/go" "$bmnt/root"
chmod 1777 "$bmnt/tmp"
cp -a "$goroot" "$bmnt/usr/local/go"
# What building needs of the toolchain: not its own tests (less to copy per stage).
rm -rf "$bmnt/usr/local/go/test" "$bmnt/usr/local/go/api" "$bmnt/usr/local/go/doc"
find "$bmnt/usr/local/go/src" -type d -name testdata -prune -exec rm -rf {} +
tools=(/bin/sh /bin/dash /bin/rm /bin/mkdir /bin/cp /bin/chmod /bin/touch /bin/cat)
for t in "${tools[@]}"; do
  real=$(readlink -f "$t")
  mkdir -p "$bmnt$(dirname "$real")"
  cp -aL "$real" "$bmnt$real"
  [ "$real" = "$t" ] || ln -sf "$real" "$bmnt$t"
  for lib in $(ldd "$real" | grep -o '/[^ ]*'); do
    mkdir -p "$bmnt$(dirname "$lib")"
    cp -L "$lib" "$bmnt$lib"
  done
done
cp -L /etc/ssl/certs/ca-certificates.crt "$bmnt/etc/ssl/certs/"
echo 'root:x:0:0:root:/root:/bin/sh' >"$bmnt/etc/passwd"
"${B[@]}" umount "$base" >/dev/null
"${B[@]}" config --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env GOPATH=/go --env GOTOOLCHAIN=local --workingdir /go "$base"
"${B[@]}" commit --quiet "$base" "$golang_image" >/dev/null
"${B[@]}" rm "$base" >/dev/null

# The build context is what a fresh clone has: the tracked files.
mkdir -p "$work/clone"
git ls-files -z | xargs -0 cp --parents -t "$work/clone"
rm -f "$work/clone/Dockerfile" && cp Dockerfile "$work/clone/Dockerfile"
# The host's module and build caches only make the builder stage faster.
# ROOTFS=build is the Dockerfile's default, passed explicitly because
# buildah before 1.29 does not resolve a stage named by an ARG's default
# (containers/buildah#4312); Docker's classic builder and BuildKit do.
mkdir -p "$(go env GOMODCACHE)" "$(go env GOCACHE)"
caches=(-v "$(go env GOMODCACHE):/go/pkg/mod" -v "$(go env GOCACHE):/root/.cache/go-build")
if ! timeout 900 "${B[@]}" bud --format docker --isolation chroot --pull=never --skip-unused-stages=false \
  "${caches[@]}" --build-arg ROOTFS=build --build-arg VERSION=v0.0.0-container-check -f "$work/clone/Dockerfile" -t localhost/sipphone:all-stages \
  "$work/clone" >"$work/bud-all.log" 2>&1; then
  tail -n 40 "$work/bud-all.log"
  die "stages  buildah bud --skip-unused-stages=false from a fresh clone"
fi
for st in build prebuilt rootfs runtime; do
  if ! grep -qiE "(FROM .* AS $st\b|AS $st\$)" "$work/bud-all.log"; then
    fail "stages  no stage '$st' in the build log"
  fi
done
actr=$(timeout 60 "${B[@]}" from localhost/sipphone:all-stages)
if out=$(timeout 30 "${B[@]}" run --isolation chroot "$actr" -- /usr/local/bin/sipphone --version 2>&1) &&
  grep -q '^sipphone v0.0.0-container-check ' <<<"$out"; then
  pass "stages  every stage of the Dockerfile built from a fresh clone (golang base: local stand-in for $golang_image); image runs: $out"
else
  fail "stages  the all-stages image: $out"
fi
"${B[@]}" rm "$actr" >/dev/null

# 2. Runtime images for amd64 and arm64 from the cross-built binaries.
if [ -z "${SIPPHONE_DIST:-}" ]; then
  DIST="$work/dist" TARGETS="linux/amd64 linux/arm64" ./scripts/release.sh >"$work/release.log" 2>&1 ||
    { cat "$work/release.log"; die "release  scripts/release.sh"; }
  SIPPHONE_DIST="$work/dist"
fi
mkdir -p "$work/context/dist/rootfs"
elf_machine() { # ELF e_machine of a little-endian binary: 62 x86-64, 183 AArch64, 40 ARM
  od -An -t u2 -j 18 -N 2 "$1" | tr -d ' '
}
declare -A want_machine=([amd64]=62 [arm64]=183)
for arch in amd64 arm64; do
  rootfs="$SIPPHONE_DIST/rootfs/linux-$arch"
  [ -d "$rootfs" ] || die "release  $rootfs missing (scripts/release.sh lays it out)"
  cp -a "$rootfs" "$work/context/dist/rootfs/linux-$arch"
  if ! timeout 120 "${B[@]}" bud --quiet --format docker --isolation chroot --pull=never --platform "linux/$arch" \
    --build-arg ROOTFS=prebuilt --build-arg PREBUILT="dist/rootfs/linux-$arch" --target runtime \
    -f "$repo/Dockerfile" -t "localhost/sipphone:$arch" "$work/context" >"$work/bud-$arch.log" 2>&1; then
    cat "$work/bud-$arch.log"
    die "image  buildah bud --platform linux/$arch --target runtime"
  fi
  got=$("${B[@]}" inspect --type image --format '{{.OCIv1.OS}}/{{.OCIv1.Architecture}}' "localhost/sipphone:$arch")
  c=$(timeout 60 "${B[@]}" from "localhost/sipphone:$arch")
  m=$(timeout 60 "${B[@]}" mount "$c")
  machine=$(elf_machine "$m/usr/local/bin/sipphone")
  if [ "$got" = "linux/$arch" ] && [ "$machine" = "${want_machine[$arch]}" ]; then
    pass "image  linux/$arch runtime stage from the cross-built binary ($got, ELF machine $machine, $("${B[@]}" images --format '{{.Size}}' "localhost/sipphone:$arch"))"
  else
    fail "image  linux/$arch: image platform $got, binary ELF machine $machine (want ${want_machine[$arch]})"
  fi
  if [ "$arch" = arm64 ]; then
    if command -v qemu-aarch64 >/dev/null; then
      if out=$(timeout 60 qemu-aarch64 "$m/usr/local/bin/sipphone" --version 2>&1) && grep -q 'linux/arm64)$' <<<"$out"; then
        pass "image  arm64 binary of the image runs under qemu-aarch64: $out"
      else
        fail "image  arm64 binary under qemu-aarch64: $out"
      fi
    else
      echo "SKIP image  arm64 binary not run: qemu-user not installed"
    fi
  fi
  "${B[@]}" umount "$c" >/dev/null
  "${B[@]}" rm "$c" >/dev/null
done
image=localhost/sipphone:amd64

# 3. Image configuration and files (amd64).
inspect() { "${B[@]}" inspect --type image --format "$1" "$image"; }
expect() { # name got want
  if [ "$2" = "$3" ]; then pass "config  $1: $2"; else fail "config  $1: got '$2', want '$3'"; fi
}
expect user "$(inspect '{{.Docker.Config.User}}')" "10001:10001"
expect entrypoint "$(inspect '{{.Docker.Config.Entrypoint}}')" "[/usr/local/bin/sipphone]"
expect cmd "$(inspect '{{.Docker.Config.Cmd}}')" "[serve]"
expect healthcheck "$(inspect '{{.Docker.Config.Healthcheck.Test}}')" "[CMD /usr/local/bin/sipphone healthcheck]"
expect volumes "$(inspect '{{.Docker.Config.Volumes}}')" "map[/var/lib/sipphone:{} /var/log/sip_phone:{}]"
expect ports "$(inspect '{{.Docker.Config.ExposedPorts}}')" "map[5060/tcp:{} 5060/udp:{} 8000/tcp:{} 8001/tcp:{}]"

ctr=$(timeout 60 "${B[@]}" from --name sipphone-container-check "$image")
mnt=$(timeout 60 "${B[@]}" mount "$ctr")
owner() { stat -c '%u:%g %a' "$mnt$1"; }
for d in /var/lib/sipphone /var/log/sip_phone; do
  case "$(owner $d)" in
    "10001:10001 "*) pass "files  $d owned by the user ($(owner $d))" ;;
    *) fail "files  $d: $(owner $d), want 10001:10001" ;;
  esac
done
for f in /var /var/lib /var/log /etc/passwd /usr/local/bin/sipphone; do
  case "$(owner $f)" in
    "0:0 "*) ;;
    *) fail "files  $f: $(owner $f), want root" ;;
  esac
done
if grep -q '^sipphone:x:10001:10001:' "$mnt/etc/passwd"; then pass "files  passwd entry for sipphone"; else fail "files  no passwd entry"; fi
if [ -e "$mnt/bin/sh" ] || [ -e "$mnt/usr/bin/curl" ]; then fail "files  the image has a shell or curl"; else pass "files  no shell, no curl"; fi

# 4. Run it. Host network, as docker-compose.yml does; ports picked at
# random and confirmed free by `sipphone check` inside the image. buildah
# run gives each VOLUME of the image a fresh volume seeded from the image
# (as Docker does for a new named volume), found afterwards under its
# storage directory.
mounts=(-v "$work/config.yml:/etc/sip_phone/config.yml:ro")
run_in() { timeout 30 "${B[@]}" run --isolation chroot --network host "${mounts[@]}" "$ctr" -- "$@"; }
http_get() { # url -> body; fails on a non-2xx answer
  curl -fsS --max-time 3 "$1"
}
ok=""
for try in 1 2 3 4 5; do
  base=$((20000 + RANDOM % 30000))
  rest=$base ws=$((base + 1)) sip=$((base + 2))
  cat >"$work/config.yml" <<YAML
server:
  host: "127.0.0.1"
  sip_port: $sip
  rest_port: $rest
  websocket_port: $ws
audio:
  rtp_ports: {min: $((base + 10)), max: $((base + 40))}
logging:
  format: "json"
  output: "/var/log/sip_phone/api.log"
  rotation: "1 day"
  retention: "30 days"
YAML
  chmod 0644 "$work/config.yml"
  if run_in /usr/local/bin/sipphone check >"$work/check.log" 2>&1; then
    ok=1
    break
  fi
done
if [ -z "$ok" ]; then
  cat "$work/check.log"
  die "sipphone check inside the image"
fi
pass "run  sipphone check inside the image: $(grep -c '^PASS' "$work/check.log") checks passed"

timeout 120 "${B[@]}" run --isolation chroot --network host "${mounts[@]}" "$ctr" -- \
  $(inspect '{{range .Docker.Config.Entrypoint}}{{.}} {{end}}{{range .Docker.Config.Cmd}}{{.}} {{end}}') \
  >"$work/server.out" 2>&1 &
server_pid=$!

up=""
for _ in $(seq 1 100); do # up to 20 s
  if http_get "http://127.0.0.1:$rest/healthz" >"$work/healthz" 2>/dev/null; then up=1; break; fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$up" ]; then
  cat "$work/server.out"
  die "run  the server did not answer /healthz on 127.0.0.1:$rest"
fi
pass "run  /healthz: $(cat "$work/healthz")"
for path in /readyz /status; do
  if body=$(http_get "http://127.0.0.1:$rest$path"); then pass "run  $path: ${body:0:80}"; else fail "run  $path"; fi
done
if out=$(run_in $(inspect '{{range $i, $a := .Docker.Config.Healthcheck.Test}}{{if $i}}{{$a}} {{end}}{{end}}') 2>&1); then
  pass "run  HEALTHCHECK command: $out"
else
  fail "run  HEALTHCHECK command: $out"
fi

# The server process is the innermost descendant of buildah run.
user_pid() {
  local p=$server_pid c
  for _ in 1 2 3 4 5; do
    c=$(ps -o pid= --ppid "$p" | head -n 1 | tr -d ' ')
    [ -n "$c" ] || break
    p=$c
  done
  echo "$p"
}
spid=$(user_pid)
uid=$(ps -o uid= -p "$spid" | tr -d ' ')
if [ "$uid" = 10001 ]; then pass "run  server runs as uid 10001"; else fail "run  server runs as uid '$uid'"; fi

kill -TERM "$spid"
stopped=""
for _ in $(seq 1 60); do # up to 15 s
  if ! kill -0 "$server_pid" 2>/dev/null; then stopped=1; break; fi
  sleep 0.25
done
if [ -z "$stopped" ]; then
  die "run  the server did not stop within 15 s of SIGTERM"
fi
if wait "$server_pid"; then pass "run  SIGTERM: clean exit"; else fail "run  SIGTERM: exit status $?"; fi
server_pid=""

log=$(find "$work/storage" -path '*buildah-volumes*' -name api.log | head -n 1)
if [ -n "$log" ] && grep -q '"msg":"sipphone started"' "$log" && grep -q '"msg":"sipphone stopped"' "$log"; then
  pass "run  log file /var/log/sip_phone/api.log written by uid $(stat -c %u "$log"), start and stop logged"
else
  fail "run  log file /var/log/sip_phone/api.log missing or incomplete"
  cat "$work/server.out"
fi
state=$(find "$work/storage" -path '*buildah-volumes*' -name state.json | head -n 1)
if [ -n "$state" ]; then
  pass "run  state file /var/lib/sipphone/state.json written by uid $(stat -c %u "$state")"
else
  fail "run  state file /var/lib/sipphone/state.json not written"
fi

summary
[ "$failed" = 0 ]
