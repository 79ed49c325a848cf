import type { Generated } from 'kysely';

/** Table shapes as stored; the store maps them to the camelCase rows in types.ts. */
export interface Database {
  services: {
    name: string;
    stable_version: string | null;
    previous_version: string | null;
    previous_retire_at: number | null;
    updated_at: number;
  };
  releases: {
    id: Generated<number>;
    service: string;
    version: string;
    from_version: string | null;
    kind: string;
    state: string;
    phase: string;
    step: number;
    weight: number;
    reason: string | null;
    outcome: string | null;
    step_started_at: number;
    phase_started_at: number;
    created_at: number;
    updated_at: number;
    ended_at: number | null;
    /** 1 while the release is active, NULL after; a unique (service, active) index allows one active release. */
    active: number | null;
    /** The key its creation was written under (unique): a retried creation finds the row instead of adding one. */
    idempotency_key: string | null;
  };
  events: {
    id: Generated<number>;
    service: string;
    release_id: number | null;
    at: number;
    type: string;
    message: string;
    data: string;
    /** The key the event was written under (unique): a retried write finds the row instead of adding one. */
    idempotency_key: string | null;
  };
  measurements: {
    id: Generated<number>;
    release_id: number;
    service: string;
    at: number;
    trigger: string;
    metric: string;
    version: string;
    value: number | null;
    threshold: number | null;
    verdict: string;
    window_ms: number;
    requests: number;
    message: string;
    inputs: string;
    /** The key the measurement was written under (unique), as for events. */
    idempotency_key: string | null;
  };
  release_samples: {
    id: Generated<number>;
    release_id: number;
    service: string;
    at: number;
    /** JSON: SampleFigures, or NULL. */
    stable: string | null;
    /** JSON: SampleFigures, or NULL. */
    canary: string | null;
    /** The key the sample was written under (unique), as for events. */
    idempotency_key: string | null;
  };
  checklist_items: {
    release_id: number;
    item_id: string;
    position: number;
    section: string;
    title: string;
    kind: string;
    gate: string;
    params: string;
    hint: string | null;
    automated: number;
    state: string;
    evidence: string;
    updated_at: number;
    /** JSON: the keys of the item's last writes, so a write retried after its commit is not applied again. */
    write_keys: string | null;
  };
  instances: {
    id: string;
    service: string;
    version: string;
    idx: number;
    port: number;
    pid: number;
    pid_start_time: string;
    log_file: string;
  };
  leases: {
    name: string;
    holder: string;
    expires_at: number;
    epoch: number;
    acquired_at: number;
    /** The epoch whose holder keeps a session lock on the unit (PostgreSQL); NULL when it does not. */
    lock_epoch: number | null;
  };
  replicas: {
    id: string;
    seen_at: number;
    expires_at: number;
  };
  effects: {
    key: string;
    service: string;
    release_id: number | null;
    kind: string;
    state: string;
    holder: string;
    at: number;
    data: string;
  };
  users: {
    id: Generated<number>;
    name: string;
    email: string | null;
    password_hash: string | null;
    /** JSON: Grant[] */
    grants: string;
    /** JSON: string[] */
    groups: string;
    source: string;
    subject: string | null;
    disabled_at: number | null;
    failed_logins: number;
    locked_until: number | null;
    /** Sealed with the key ring (security/secret-box.ts). */
    totp_secret: string | null;
    totp_confirmed: number;
    totp_last_step: number | null;
    /** JSON: SHA-256 hashes of the unused recovery codes. */
    recovery_codes: string;
    created_at: number;
    updated_at: number;
  };
  api_tokens: {
    hash: string;
    prefix: string;
    name: string;
    user_id: number;
    role: string;
    environment: string;
    created_at: number;
    expires_at: number | null;
    last_used_at: number | null;
    revoked_at: number | null;
    mfa_at: number | null;
  };
  sessions: {
    hash: string;
    user_id: number;
    csrf: string;
    address: string | null;
    created_at: number;
    seen_at: number;
    expires_at: number;
    mfa_at: number | null;
  };
  audit_log: {
    seq: number;
    at: number;
    actor: string;
    action: string;
    target: string | null;
    service: string | null;
    address: string | null;
    result: string;
    reason: string | null;
    data: string;
    prev: string;
    hash: string;
  };
  audit_head: {
    id: number;
    seq: number;
    hash: string;
    archived_seq: Generated<number>;
    archived_hash: Generated<string>;
  };
  /** The outbox of notifications and their delivery log (notification-store.ts). */
  notifications: {
    id: Generated<number>;
    key: string;
    channel: string;
    /** JSON: Destination. */
    destination: string;
    /** JSON: Notice. */
    notice: string;
    state: string;
    attempts: number;
    next_attempt_at: number;
    /** The replica sending it, until `claimed_until`; a crashed sender's claim lapses. */
    claimed_by: string | null;
    claimed_until: number | null;
    last_error: string | null;
    created_at: number;
    updated_at: number;
    delivered_at: number | null;
  };
  /** Channels a 410 answered (notification-store.ts); a channel without a row is enabled. */
  notification_channels: {
    name: string;
    disabled_at: number | null;
    disabled_reason: string | null;
    updated_at: number;
  };
  /** Users' contact methods (contact-method-store.ts); `sealed` holds the address, URL or key. */
  contact_methods: {
    id: Generated<number>;
    user_id: number;
    type: string;
    /** What may be shown: an email address, a webhook's host. */
    shown: string;
    sealed: string;
    disabled_at: number | null;
    disabled_reason: string | null;
    created_at: number;
  };
  /** On-call overrides made through the API (oncall-store.ts); removing one sets `removed_at`. */
  oncall_overrides: {
    id: Generated<number>;
    schedule: string;
    user: string;
    starts_at: number;
    ends_at: number;
    reason: string | null;
    created_by: string;
    created_at: number;
    removed_by: string | null;
    removed_at: number | null;
  };
  /** The stable instance count of a unit set by `shipcheck scale` or the autoscaler (scaling-store.ts). */
  scale_settings: {
    unit: string;
    instances: number;
    config_instances: number;
    source: string;
    set_by: string;
    reason: string | null;
    set_at: number;
  };
  /** A unit's load every few seconds: request figures with CPU and RSS per instance (scaling-store.ts). */
  load_samples: {
    id: Generated<number>;
    unit: string;
    at: number;
    version: string;
    instances: number;
    rps: number;
    requests: number;
    p99: number | null;
    error_rate: number | null;
    cpu: number | null;
    rss: number | null;
  };
  /** Performance baselines per release (baseline-store.ts); `figures` is JSON BaselineFigures. */
  baselines: {
    id: Generated<number>;
    release_id: number;
    service: string;
    version: string;
    state: string;
    started_at: number;
    ended_at: number | null;
    figures: string | null;
    reason: string | null;
    resources_start: string;
    updated_at: number;
  };
}
