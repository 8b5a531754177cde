#!/usr/bin/env bash
# Re-fetches the Swagger UI files that /docs embeds (internal/webdocs/assets/
# swagger-ui/) from the npm registry with npm, gzips the large ones
# reproducibly, and records the version and the package's integrity hash.
#
#   scripts/update-webdocs.sh            # latest swagger-ui-dist
#   scripts/update-webdocs.sh 5.35.0     # a given version
#
# Swagger UI is Apache-2.0; its LICENSE, NOTICE and the bundle's third-party
# license file are kept next to it and served under /docs/assets/swagger-ui/.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-latest}"
dest=internal/webdocs/assets/swagger-ui
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "swagger-ui-dist@$version" >/dev/null)
tgz=$(ls "$tmp"/swagger-ui-dist-*.tgz)
tar -xzf "$tgz" -C "$tmp"
pkg="$tmp/package"
resolved=$(node -p "require('$pkg/package.json').version")
license=$(node -p "require('$pkg/package.json').license")
if [ "$license" != "Apache-2.0" ]; then
  echo "swagger-ui-dist $resolved is licensed $license, not Apache-2.0: review before embedding" >&2
  exit 1
fi
integrity=$(cd "$tmp" && npm view --silent "swagger-ui-dist@$resolved" dist.integrity)

rm -rf "$dest"
mkdir -p "$dest"
for f in swagger-ui-bundle.js swagger-ui.css; do
  # -n: no name or timestamp in the header, so the output is reproducible.
  gzip -9 -n -c "$pkg/$f" > "$dest/$f.gz"
done
cp "$pkg/favicon-32x32.png" "$pkg/LICENSE" "$pkg/NOTICE" "$pkg/swagger-ui-bundle.js.LICENSE.txt" "$dest/"
printf 'swagger-ui-dist %s\nlicense %s\nintegrity %s\n' "$resolved" "$license" "$integrity" > "$dest/VERSION"
echo "swagger-ui-dist $resolved in $dest:"
du -ch "$dest"/* | tail -n 1
