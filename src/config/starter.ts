/**
 * The commented shipcheck.yaml that `shipcheck init` writes: every key with its default or a typical
 * value, and the production checklist's rollback rules already filled in.
 */
export const STARTER_CONFIG = `# shipcheck.yaml: how one service is deployed. Reference: docs/config.md
# Durations are written 500ms, 5s, 5m or 1h; percentages as 5% (or the number 5).

# Name of the service this file deploys (lowercase letters, digits and dashes).
service: my-app

# Where shipcheck keeps its state: sqlite:PATH (relative to this file) or postgres://user@host/db.
store: sqlite:.shipcheck/state.db

server:
  # Where the API and dashboard listen; the CLI finds it through SHIPCHECK_URL.
  listen: 127.0.0.1:7070

fleet:
  # local: every instance is a process on this machine.
  kind: local
  # Starts one instance. It must listen on $PORT and answer health.path; point this at your app.
  command: ["node", "app.js"]
  # Folder the command runs in, relative to this file.
  cwd: .
  # Extra environment variables for every instance (values are strings).
  env:
    NODE_ENV: production
  # Instances of the stable version.
  instances: 3
  # Instances of a new version at its first step.
  canaryInstances: 1
  # How long a new instance may take to become healthy.
  startTimeout: 30s
  # Grace after SIGTERM before SIGKILL.
  stopTimeout: 10s
  health:
    # Requested on every instance to check its health.
    path: /healthz
    # Time between two checks of one instance.
    interval: 2s
    # A check that takes longer than this fails.
    timeout: 1s
    # Consecutive failed checks before an instance counts as unhealthy.
    unhealthyAfter: 3

traffic:
  # proxy: the built-in HTTP proxy splits requests between stable and canary by weight.
  kind: proxy
  # Where the proxy takes the service's traffic; send your users here.
  listen: 127.0.0.1:8080

metrics:
  # builtin: request counts and latencies recorded by the proxy.
  kind: builtin

strategy:
  # Run in order; when they are done the new version takes all traffic.
  steps:
    - setWeight: 10 # 10% of requests go to the canary
    - pause: 5m # long enough for a "for: 5m" trigger to fire; {} waits for "shipcheck promote"
    - setWeight: 50
    - pause: 5m
    - setWeight: 100
  # Time at 100% with the triggers still watching before the release succeeds.
  bakeTime: 5m

analysis:
  # How often the triggers are evaluated.
  interval: 5s
  # Inconclusive evaluations in a row (too little data) before onInconclusive applies.
  inconclusiveLimit: 5
  # pause: hold the release until someone decides; rollback: treat missing data as failure.
  onInconclusive: pause

rollback:
  # Rules evaluated on the canary; any one that fires rolls the release back.
  triggers:
    # 5xx responses above 5% for 5 minutes.
    - metric: error_rate # error_rate, latency_p50, latency_p90 or latency_p99
      above: 5% # a percentage for error_rate; a duration for latencies
      window: 1m # lookback over which the metric is computed
      for: 5m # how long the condition must hold before the rule fires
      minRequests: 10 # with fewer requests in the window the verdict is inconclusive
    # p99 latency above 2 seconds.
    - metric: latency_p99
      above: 2s
    # Failed health checks on a canary instance.
    - health: failed
  # How long the previous version stays running after a release succeeds, for a fast rollback.
  keepPreviousFor: 10m

checklist:
  # default runs the production deployment checklist at each gate (docs/checklist.md); none skips it;
  # or give the path of your own template, which may extend default.
  template: default
  # Values the default template's checks use; items whose values are missing become sign-offs.
  vars:
    healthPath: /healthz
    journeyPath: /

# Optional blocks, each documented in docs/config.md:
# migrations: { dir: migrations, database: "sqlite:app.db" }   # run before each canary
# backup: { database: "sqlite:app.db" }                          # checked by backup-age and backup-restore
# cdn: { purge: [{ url: "http://127.0.0.1:6081/", method: PURGE }] }
# environments:                                                  # promotion order
#   staging: { traffic: { listen: 127.0.0.1:8081 } }
#   production: { traffic: { listen: 127.0.0.1:8080 } }
`;
