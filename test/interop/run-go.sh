#!/usr/bin/env bash
# Builds test/interop/tlogcheck (a Go program using golang.org/x/mod/sumdb/{tlog,note}) and runs
# it with the given arguments, e.g.
#   bash test/interop/run-go.sh generate test/vectors/audit/go-tlog.json
#   bash test/interop/run-go.sh verify /tmp/ours.json
#
# Offline by design: GOPATH mode against the x/mod sources from Debian's golang-golang-x-mod-dev
# package (/usr/share/gocode/src), no module proxy. Needs: apt-get install golang-go golang-golang-x-mod-dev
#
# Exit status: that of tlogcheck (0 pass, 1 check failed, 2 usage/IO error), or
#   3 if `go` or the x/mod sources are missing (the toolchain is unavailable, not a test failure),
#   4 if the Go program does not build.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
gocode="${KEYWARDEN_GOCODE:-/usr/share/gocode}"

if ! command -v go >/dev/null 2>&1; then
  echo "run-go.sh: 'go' is not on PATH; install it with: apt-get install -y golang-go golang-golang-x-mod-dev" >&2
  exit 3
fi
for pkg in tlog note; do
  if [ ! -d "$gocode/src/golang.org/x/mod/sumdb/$pkg" ]; then
    echo "run-go.sh: golang.org/x/mod/sumdb/$pkg sources not found under $gocode/src; install them with: apt-get install -y golang-golang-x-mod-dev" >&2
    exit 3
  fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/keywarden-tlogcheck.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The build cache is kept between runs (in the temp dir) so repeated runs are quick; the Go
# build cache is safe to share between concurrent builds.
cache="${KEYWARDEN_GOCACHE:-${TMPDIR:-/tmp}/keywarden-tlogcheck-gocache}"
mkdir -p "$work/gopath" "$cache"

if ! (
  cd "$here/tlogcheck" &&
  env GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH="$gocode:$work/gopath" GOCACHE="$cache" \
    go build -o "$work/tlogcheck" .
); then
  echo "run-go.sh: building test/interop/tlogcheck failed (go: $(go version 2>&1))" >&2
  exit 4
fi

exec "$work/tlogcheck" "$@"
