#!/usr/bin/env bash
# Regenerates shoal.pb.go from shoal.proto. Needs protoc (Debian: protobuf-compiler)
# and protoc-gen-go at the version in go.mod.
set -euo pipefail
cd "$(dirname "$0")"
ver=$(cd ../.. && go list -m -f '{{.Version}}' google.golang.org/protobuf)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$ver"
PATH="$bin:$PATH" protoc --go_out=. --go_opt=paths=source_relative shoal.proto
