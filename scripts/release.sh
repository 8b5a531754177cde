#!/usr/bin/env bash
# Builds the release artifacts under dist/ (make release):
#
#   dist/sipphone-VERSION-linux-amd64.tar.gz   one tarball per target: the
#   dist/sipphone-VERSION-linux-arm64.tar.gz   static binary, README.md,
#   dist/sipphone-VERSION-linux-armv7.tar.gz   CHANGELOG.md, docs/install.md,
#                                              config.example.yml, the systemd
#                                              unit and sysusers file, the
#                                              fail2ban files, LICENSE if present
#   dist/bin/linux-amd64/sipphone ...          the bare binaries (arm check, images)
#   dist/rootfs/linux-amd64/ ...               container image files (deploy/make-rootfs.sh)
#   dist/SHA256SUMS                            sha256sum of every tarball
#
# Binaries are static (CGO_ENABLED=0), built with -trimpath, and carry the
# version, commit and build date (-ldflags -X main.*). The version is the
# git tag (git describe: v1.2.3, or v1.2.3-4-gabcdef012345 after it), or
# v0.0.0-N-gHASH before the first tag; "-dirty" marks uncommitted changes.
# The build date is SOURCE_DATE_EPOCH when set, else the commit's time, so
# building the same commit twice gives the same bytes and checksums.
#
#   scripts/release.sh            all targets
#   scripts/release.sh version    print the version and exit
#   TARGETS="linux/arm64" scripts/release.sh
set -euo pipefail
cd "$(dirname "$0")/.."

version() {
  local v
  if v=$(git describe --tags --match 'v[0-9]*.[0-9]*.[0-9]*' --dirty --abbrev=12 2>/dev/null); then
    echo "$v"
  elif git rev-parse --verify -q HEAD >/dev/null 2>&1; then
    v="v0.0.0-$(git rev-list --count HEAD)-g$(git rev-parse --short=12 HEAD)"
    git diff --quiet HEAD 2>/dev/null || v="$v-dirty"
    echo "$v"
  else
    echo v0.0.0-unknown
  fi
}

VERSION=${VERSION:-$(version)}
if [ "${1:-}" = version ]; then
  echo "$VERSION"
  exit 0
fi
COMMIT=${COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
git diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT-dirty"
EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
DATE=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)
TARGETS=${TARGETS:-linux/amd64 linux/arm64 linux/arm/v7}
DIST=${DIST:-dist}
GO=${GO:-go}

# What goes into every tarball besides the binary (LICENSE only if present).
docs=(README.md CHANGELOG.md config.example.yml)
[ -f LICENSE ] && docs+=(LICENSE)
for f in "${docs[@]}" docs/install.md deploy/sipphone.service deploy/sipphone.sysusers deploy/fail2ban/filter.d/sipphone.conf deploy/fail2ban/jail.d/sipphone.local; do
  [ -f "$f" ] || { echo "release: $f is missing" >&2; exit 1; }
done

rm -rf "$DIST"
mkdir -p "$DIST"
echo "release $VERSION (commit $COMMIT, built $DATE) into $DIST/"
for target in $TARGETS; do
  IFS=/ read -r goos goarch variant <<<"$target"
  goarm=""
  name="$goos-$goarch"
  if [ "$goarch" = arm ]; then
    goarm=${variant#v}
    goarm=${goarm:-7}
    name="$goos-armv$goarm"
  fi
  bin="$DIST/bin/$name/sipphone"
  CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch GOARM=$goarm GOFLAGS=-buildvcs=false \
    $GO build -trimpath -ldflags "-s -w -buildid= -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE" \
    -o "$bin" ./cmd/sipphone
  # Static: the toolchain records how it built; cgo would mean a dynamic loader.
  if $GO version -m "$bin" | grep -q 'CGO_ENABLED=1'; then
    echo "release: $bin was built with cgo" >&2
    exit 1
  fi

  pkg="sipphone-$VERSION-$name"
  stage="$DIST/stage/$pkg"
  mkdir -p "$stage/docs" "$stage/deploy/fail2ban/filter.d" "$stage/deploy/fail2ban/jail.d"
  cp "$bin" "$stage/sipphone"
  cp "${docs[@]}" "$stage/"
  cp docs/install.md "$stage/docs/"
  cp deploy/sipphone.service deploy/sipphone.sysusers "$stage/deploy/"
  cp deploy/fail2ban/filter.d/sipphone.conf "$stage/deploy/fail2ban/filter.d/"
  cp deploy/fail2ban/jail.d/sipphone.local "$stage/deploy/fail2ban/jail.d/"
  find "$stage" -type d -exec chmod 0755 {} +
  find "$stage" -type f -exec chmod 0644 {} +
  chmod 0755 "$stage/sipphone"
  tar -C "$DIST/stage" --sort=name --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner \
    -cf - "$pkg" | gzip -n -9 >"$DIST/$pkg.tar.gz"

  # The container image's files for this architecture (Dockerfile, ROOTFS=prebuilt).
  sh deploy/make-rootfs.sh "$bin" "$DIST/rootfs/$name"
  printf '  %-14s %s  %s\n' "$name" "$(du -h "$bin" | cut -f1)" "$pkg.tar.gz"
done
rm -rf "$DIST/stage"
(cd "$DIST" && sha256sum -- *.tar.gz >SHA256SUMS)
echo "checksums: $DIST/SHA256SUMS"
cat "$DIST/SHA256SUMS"
