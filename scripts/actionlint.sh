#!/usr/bin/env bash
# Run actionlint (the GitHub Actions workflow checker) at a pinned version, building it once from
# its Go module into the auditbench cache, like the control plane, so a fresh machine gets it
# with nothing but Go. Arguments go to actionlint; with none it checks .github/workflows/*.yml.
#   scripts/actionlint.sh [--path-only] [ACTIONLINT ARGS...]
# --path-only builds if needed and prints the binary's path instead of running it.
set -euo pipefail

VERSION=v1.7.12
cache="${AUDITBENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/auditbench}"
dir="$cache/tools/actionlint-$VERSION"
bin="$dir/actionlint"

if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "actionlint.sh: Go is needed to build actionlint $VERSION" >&2; exit 2; }
  staging="$dir.partial.$$"
  rm -rf "$staging"
  mkdir -p "$staging"
  echo "building actionlint $VERSION into $dir" >&2
  # Go's module and build caches under the auditbench cache too (shared with the control-plane build).
  GOBIN="$staging" GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" CGO_ENABLED=0 GOFLAGS= \
    go install "github.com/rhysd/actionlint/cmd/actionlint@$VERSION" >&2
  "$staging/actionlint" -version >&2
  rm -rf "$dir"
  mv "$staging" "$dir"  # visible only once complete
fi

if [ "${1:-}" = "--path-only" ]; then
  echo "$bin"
  exit 0
fi
exec "$bin" "$@"
