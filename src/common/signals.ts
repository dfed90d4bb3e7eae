// Graceful stop on SIGTERM (Kubernetes) and SIGINT (Ctrl-C). A second signal while
// stopping exits at once, so an impatient operator is never stuck.

/** Calls `stop` once on the first SIGTERM or SIGINT; returns a function that unhooks it. */
export function onStopSignal(stop: (signal: NodeJS.Signals) => void): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.exit(130);
    }
    stopping = true;
    stop(signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}
