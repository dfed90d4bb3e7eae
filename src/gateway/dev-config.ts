// The ApiRoute `figway dev` serves, embedded so the built CLI needs no files beside it.
// It must stay identical to examples/dev/apiroute.yaml (a unit test compares them).
export const DEV_APIROUTE_YAML = `# The \`figway dev\` demo (npm start): a shop whose /api/orders is being strangled out of
# the monolith. 30% of users, chosen by their x-user-id, get the new orders service; each
# user keeps seeing one side. Everything else stays on the monolith. Send
# \`x-figway-force: new\` or \`x-figway-force: monolith\` to pick a side yourself. The answers
# of the monolith are shadowed to the new service and compared: see /shadow.
apiVersion: figway.dev/v1alpha1
kind: ApiRoute
metadata:
  name: shop-dev
  namespace: dev
spec:
  monolith:
    service: legacy-shop
    port: 8080
  routes:
    - name: orders-api
      match:
        path: { type: PathPrefix, value: /api/orders }
      backends:
        - { service: orders, port: 80, weight: 30 }
        - { monolith: true, weight: 70 }
      cohort: { header: x-user-id }
      overrideHeader: x-figway-force
      fallbackToMonolith: true
      timeout: 5s
      retries: { attempts: 1, perTryTimeout: 2s, conditions: [connect-failure, 503] }
      # Compare before you move: every request the monolith serves is copied to the new
      # service and the answers are compared. The monolith is asked twice, so its
      # timestamp, different on every call, is told apart as noise; servedBy and note say
      # who answered, by design. What is left is what the new service gets wrong.
      shadow:
        backend: orders
        percent: 100
        compare:
          ignore: [$.servedBy, $.note]
          noiseCancellation: true
          keepSamples: 3
    # The catalogue changes rarely and the monolith says so (Cache-Control: public,
    # max-age=10): the gateway answers repeats itself, with x-figway-cache: hit and Age.
    - name: catalog
      match:
        path: { type: PathPrefix, value: /api/catalog }
      backends:
        - { monolith: true, weight: 100 }
      cache: { ttl: 10s, maxBytes: 8Mi }
    # Composition: the gateway answers /api/orders/42/summary itself, from the order as the
    # new orders service has it and its invoice from the monolith, asked in parallel:
    # {"order": {...}, "invoice": {...}}. The invoice is optional: when the monolith fails,
    # the summary still comes, with "invoice": null and the failure listed in "_failed".
    - name: order-summary
      match:
        path: { type: Exact, value: '/api/orders/{id}/summary' }
      timeout: 2s
      compose:
        parts:
          - { name: order, backend: orders, path: '/api/orders/{id}' }
          - { name: invoice, monolith: true, path: '/legacy/invoices/{id}', optional: true }
    # Access control: a partner app calls with an API key (from the Secret dev-api-keys;
    # the demo's key is demo-partner-key) and may send 4 requests per 2 seconds; more
    # get 429. Every answer says what is left in its RateLimit header.
    - name: partner-api
      match:
        path: { type: PathPrefix, value: /api/partner }
      backends:
        - { service: orders, port: 80, weight: 100 }
      auth:
        apiKey: { secretRef: { name: dev-api-keys } }
      rateLimit: { requestsPerSecond: 2, burst: 4, key: apiKey }
`;

/** The demo partner's API key: not a secret, printed in the demo's curl lines. */
export const DEV_PARTNER_KEY = 'demo-partner-key';

/** The Secrets the demo ApiRoute names, as `--api-keys-file` would hold them. */
export const DEV_API_KEYS = { 'dev-api-keys': { 'partner-app': DEV_PARTNER_KEY } };
