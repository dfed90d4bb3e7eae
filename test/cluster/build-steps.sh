# Helpers shared by the build scripts of test binaries (test/cluster/build.sh,
# test/tools/build-otelcol.sh); sourced, not run. The sourcing script sets BUILD_NAME (the
# log prefix) and BIN_DIR (where install_bin puts binaries).

log() { printf '[figway %s build] %s\n' "$BUILD_NAME" "$*" >&2; }

# step NAME LOGFILE CMD...: runs CMD with output to LOGFILE; on failure names the component.
step() {
  local name=$1 logfile=$2
  shift 2
  log "$name: $* (log: $logfile)"
  if ! "$@" >>"$logfile" 2>&1; then
    log "ERROR: building $name failed; last lines of $logfile:"
    tail -n 40 "$logfile" >&2 || true
    log "ERROR: building $name failed (full log: $logfile)"
    exit 1
  fi
}

# install_bin SRC NAME: atomic move into the cache, so a half-written binary never counts.
install_bin() {
  mv -f "$1" "$BIN_DIR/$2.tmp.$$"
  mv -f "$BIN_DIR/$2.tmp.$$" "$BIN_DIR/$2"
}
