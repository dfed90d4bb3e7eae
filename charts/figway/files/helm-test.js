// `helm test`: the operator answers on its metrics Service, is ready, and exports its
// metrics. Runs with the node of the figway image (no curl there, and no second image to
// pull from a private registry). FIGWAY_OPERATOR_URL: the metrics Service base URL.
const base = process.env.FIGWAY_OPERATOR_URL;
const check = async (path, test) => {
  const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) });
  const body = await response.text();
  if (!test(response, body))
    throw new Error(`GET ${path}: HTTP ${response.status}: ${body.slice(0, 200)}`);
  console.log(`GET ${path}: HTTP ${response.status}, ok`);
};
check('/readyz', (response) => response.ok)
  .then(() =>
    check(
      '/metrics',
      (response, body) => response.ok && body.includes('figway_operator_reconciles_total'),
    ),
  )
  .catch((error) => {
    console.error(`figway helm test failed: ${error.message}`);
    process.exitCode = 1;
  });
