#!/usr/bin/env bash
# Builds the OpenTelemetry Collector that the tracing tests export to, from its published
# Go modules: a minimal distribution with the OTLP receiver and the file exporter (the
# exporter writes what the receiver accepted as OTLP JSON, which the tests read back).
#
# Cached outside the repository, keyed by version, like test/cluster/build.sh: a second run
# with a warm cache does nothing. The last line on stdout is the binary's path; everything
# else goes to stderr.
#
# Exit codes: 0 built or cached; 1 build failed (or Go missing in CI); 3 Go is missing on a
# developer machine, so the tracing tests should be skipped loudly.
#
# Environment:
#   FIGWAY_CACHE_DIR  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/figway)
#   CI=true           a missing Go is a failure, not a skip
set -euo pipefail

# One release for every collector module: core v0.161.0 goes with v1.67.0, and the
# contrib file exporter is published at the same v0.161.0.
OTELCOL_VERSION=v0.161.0
OTELCOL_STABLE_VERSION=v1.67.0

CACHE_ROOT=${FIGWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/figway}
BIN_DIR=$CACHE_ROOT/otelcol-$OTELCOL_VERSION
BIN=$BIN_DIR/figway-otelcol
SRC_DIR=$CACHE_ROOT/src/otelcol-$OTELCOL_VERSION
LOG_DIR=$CACHE_ROOT/logs
LOGFILE=$LOG_DIR/build-otelcol-$OTELCOL_VERSION.log

BUILD_NAME=otelcol
# shellcheck source=test/cluster/build-steps.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/build-steps.sh"

write_sources() {
  mkdir -p "$SRC_DIR"
  cat >"$SRC_DIR/go.mod" <<EOF
module figway.dev/testtools/otelcol

go 1.26.0

require (
	github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter $OTELCOL_VERSION
	go.opentelemetry.io/collector/component $OTELCOL_STABLE_VERSION
	go.opentelemetry.io/collector/confmap $OTELCOL_STABLE_VERSION
	go.opentelemetry.io/collector/confmap/provider/envprovider $OTELCOL_STABLE_VERSION
	go.opentelemetry.io/collector/confmap/provider/fileprovider $OTELCOL_STABLE_VERSION
	go.opentelemetry.io/collector/exporter $OTELCOL_STABLE_VERSION
	go.opentelemetry.io/collector/otelcol $OTELCOL_VERSION
	go.opentelemetry.io/collector/receiver $OTELCOL_STABLE_VERSION
	go.opentelemetry.io/collector/receiver/otlpreceiver $OTELCOL_VERSION
	go.opentelemetry.io/collector/service $OTELCOL_VERSION
)
EOF
  # What the collector builder (ocb) would generate for two components, written by hand
  # because ocb itself is a separate download.
  cat >"$SRC_DIR/main.go" <<'EOF'
package main

import (
	"log"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func components() (otelcol.Factories, error) {
	receivers, err := otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	exporters, err := otelcol.MakeFactoryMap[exporter.Factory](fileexporter.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	return otelcol.Factories{
		Receivers: receivers,
		Exporters: exporters,
		Telemetry: otelconftelemetry.NewFactory(),
	}, nil
}

func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "figway-otelcol",
			Description: "OpenTelemetry Collector (OTLP receiver, file exporter) for Figway's tracing tests",
			Version:     "figway",
		},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				// env: the default scheme of ${VAR} references in a config.
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(),
					envprovider.NewFactory(),
				},
			},
		},
	}
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		log.Fatal(err)
	}
}
EOF
}

main() {
  if [[ -x $BIN ]]; then
    echo "$BIN"
    exit 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    if [[ ${CI:-} == true ]]; then
      log "ERROR: Go is not installed, but CI=true: the OpenTelemetry Collector cannot be built."
      exit 1
    fi
    log "SKIP: Go is not installed, so the OpenTelemetry Collector for the tracing tests cannot be built."
    exit 3
  fi
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false GO111MODULE=on
  mkdir -p "$BIN_DIR" "$SRC_DIR" "$LOG_DIR"

  # One build at a time per cache; a second caller waits, then finds the binary.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE_ROOT/build-otelcol.lock"
    if ! flock -w 1800 9; then
      log "ERROR: timed out after 30 min waiting for another build holding $CACHE_ROOT/build-otelcol.lock"
      exit 1
    fi
  fi
  if [[ -x $BIN ]]; then
    echo "$BIN"
    exit 0
  fi

  local start
  start=$(date +%s)
  : >"$LOGFILE"
  log "building $OTELCOL_VERSION into $BIN_DIR (Go: $(go version)); the first build takes a few minutes"
  write_sources
  (cd "$SRC_DIR" && step otelcol "$LOGFILE" go mod tidy)
  (cd "$SRC_DIR" && step otelcol "$LOGFILE" go build -p 2 -trimpath -ldflags "-s -w" -o "$SRC_DIR/figway-otelcol.out" .)
  install_bin "$SRC_DIR/figway-otelcol.out" figway-otelcol
  log "done in $(($(date +%s) - start))s: $(du -sh "$BIN" | cut -f1) at $BIN"
  echo "$BIN"
}

# On one line, so that bash has read the whole file before anything runs.
main "$@"; exit $?
