#!/bin/sh
# The one build of logship: a static binary (no cgo, no paths of this
# machine, no symbol tables) and its man pages. The packages, the image and
# the README's build use it. Run from the repository root:
#   packaging/build.sh VERSION [DIR]     # DIR/logship and DIR/man (default DIR: dist)
set -eu
version=${1:?usage: packaging/build.sh VERSION [DIR]}
out=${2:-dist}
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/logship/logship/cli.Version=$version" \
    -o "$out/logship" ./cmd/logship
go run ./packaging/manpages "$out/man"
