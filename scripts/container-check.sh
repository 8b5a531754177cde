#!/usr/bin/env bash
# Builds and runs the container image's runtime stage without a Docker
# engine, with buildah (vfs storage, chroot isolation), and checks it:
#
#   0. docker-compose.yml parses (docker-compose config needs no engine);
#   1. a static binary (CGO_ENABLED=0) is built on the host;
#   2. deploy/make-rootfs.sh lays out the image files around it, as the
#      Dockerfile's build stage does;
#   3. the Dockerfile's runtime stage is built from them
#      (--build-arg ROOTFS=prebuilt --target runtime): the same instructions
#      Docker runs, except that the golang builder stage is skipped, since
#      no container registry is reachable here;
#   4. the image's user, entrypoint, health check, volumes and ports are
#      checked, and the writable directories' ownership;
#   5. inside the image: `sipphone check` with a configuration mounted at
#      /etc/sip_phone/config.yml, then the server (as the image's non-root
#      user, host network, logging to /var/log/sip_phone/api.log); it must
#      answer /healthz, /readyz and /status on loopback, and the image's
#      HEALTHCHECK command must pass; SIGTERM must stop it cleanly; the log
#      and state files must be written, as the image's user, into the
#      volumes buildah seeds from the image.
#
# Not exercised here: the golang builder stage (no registry), a Docker
# engine (docker-compose up, Docker's HEALTHCHECK scheduler, restart policy,
# named volumes, read_only/cap_drop), the host network of a real LAN.
#
# Needs root (CI runs as root) and installs buildah (and docker-compose,
# optional) with apt-get when missing. Bounded: every step has a timeout; the whole run takes seconds.
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
image=localhost/sipphone:container-check
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

# 1. The static binary.
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
if ! CGO_ENABLED=0 timeout 300 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$work/sipphone" ./cmd/sipphone; then
  die "build static binary"
fi
if ldd "$work/sipphone" >/dev/null 2>&1; then
  die "binary is dynamically linked: $(ldd "$work/sipphone" | head -n 3 | tr '\n' ' ')"
fi
pass "binary  static, $(du -h "$work/sipphone" | cut -f1)"

# 2. The image files, in a build context of their own.
mkdir -p "$work/context/dist"
sh deploy/make-rootfs.sh "$work/sipphone" "$work/context/dist/rootfs"

# 3. The runtime stage.
if ! timeout 120 "${B[@]}" bud --quiet --format docker --isolation chroot \
  --build-arg ROOTFS=prebuilt --target runtime -f "$repo/Dockerfile" -t "$image" "$work/context" >"$work/bud.log" 2>&1; then
  cat "$work/bud.log"
  die "buildah bud --target runtime"
fi
pass "image  runtime stage built from the Dockerfile ($("${B[@]}" images --format '{{.Size}}' "$image"))"

# 4. Image configuration and files.
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

# 5. Run it. Host network, as docker-compose.yml does; ports picked at
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
