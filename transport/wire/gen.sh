#!/usr/bin/env bash
# Regenerates shoal.pb.go from shoal.proto. Needs protoc (Debian/Ubuntu:
# apt-get install protobuf-compiler; the committed file was made with 3.21.12)
# and installs protoc-gen-go at the version in go.mod into a temporary GOBIN.
# TestGeneratedCodeIsCurrent repeats these steps and fails if the result
# differs from the committed file; keep the two in step.
set -euo pipefail
cd "$(dirname "$0")"
ver=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$ver"
protoc --plugin=protoc-gen-go="$bin/protoc-gen-go" --go_out=. --go_opt=paths=source_relative shoal.proto
