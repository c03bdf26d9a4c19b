package tso.config;

/**
 * Every setting of the server: one environment variable and one flag each (the flag wins), with
 * its default and a description. The same table drives the command line, validation and README.
 */
public enum Setting {
  HOST("TSO_HOST", "--host", "0.0.0.0", "listen address"),
  PORT("TSO_PORT", "--port", "8080", "one port for HTTP/JSON, gRPC (h2c), health and metrics"),
  NODE_ID("TSO_NODE_ID", "--node-id", null, "unique member id (default: the host name)"),
  ADVERTISE("TSO_ADVERTISE", "--advertise", null, "host:port others use to reach this node (default: host:port)"),
  REDIS_URL("TSO_REDIS_URL", "--redis-url", null, "unset: standalone (file-backed); redis://[:password@]host:port[/db] or rediss://"),
  REDIS_SENTINEL_MASTER("TSO_REDIS_SENTINEL_MASTER", "--redis-sentinel-master", null, "set: TSO_REDIS_URL lists Redis Sentinels (comma-separated) and this names the master"),
  REDIS_MIN_REPLICAS("TSO_REDIS_MIN_REPLICAS", "--redis-min-replicas", "0", "after each campaign and fenced bound write, WAIT for this many replicas; fewer = not persisted"),
  CLUSTER("TSO_CLUSTER", "--cluster", "default", "cluster name; namespaces the Redis keys"),
  DATA_DIR("TSO_DATA_DIR", "--data-dir", "./data", "standalone state, local safety copy of the last bound"),
  LEASE_TTL_MS("TSO_LEASE_TTL_MS", "--lease-ttl-ms", "2000", "leader lease in milliseconds"),
  FOLLOWER_MODE("TSO_FOLLOWER_MODE", "--follower-mode", "forward", "forward or redirect"),
  MAX_COUNT("TSO_MAX_COUNT", "--max-count", "65536", "largest count one request may ask for (at most 262144)"),
  WINDOW_MS("TSO_WINDOW_MS", "--window-ms", "3000", "how far ahead of the clock a persisted bound reaches"),
  QUEUE_LIMIT("TSO_QUEUE_LIMIT", "--queue-limit", "65536", "requests waiting for the allocator, at most; beyond it 429 / RESOURCE_EXHAUSTED"),
  QUEUE_TARGET_MS("TSO_QUEUE_TARGET_MS", "--queue-target-ms", "5", "refuse new requests (429) while the oldest waiting one has waited longer than this for 100 ms; 0 = off"),
  REQUEST_TIMEOUT_MS("TSO_REQUEST_TIMEOUT_MS", "--request-timeout-ms", "2000", "longest a request waits for a bound before 503 UNAVAILABLE"),
  EVENT_LOOPS("TSO_EVENT_LOOPS", "--event-loops", null, "event-loop threads (default: the number of CPUs minus one, at least 1)"),
  SHUTDOWN_GRACE_MS("TSO_SHUTDOWN_GRACE_MS", "--shutdown-grace-ms", "10000", "on SIGTERM, longest wait for in-flight requests"),
  WARMUP_MS("TSO_WARMUP_MS", "--warmup-ms", "5000", "at start-up, drive this node's own stack (HTTP and gRPC) at least this long, up to 3x while the JIT compiler is busy, before reporting ready; 0 = off"),
  NOOP_ENDPOINT("TSO_NOOP_ENDPOINT", "--noop-endpoint", "false", "true: also serve the no-op baseline (POST /v1/noop, gRPC tso.v1.Noop) for benchmarks"),
  CLOCK_OFFSET_MS("TSO_CLOCK_OFFSET_MS", "--clock-offset-ms", "0", "added to the wall clock (fault injection and tests only)");

  public final String env;
  public final String flag;
  /** Null when the default is computed at start-up. */
  public final String defaultValue;
  public final String description;

  Setting(String env, String flag, String defaultValue, String description) {
    this.env = env;
    this.flag = flag;
    this.defaultValue = defaultValue;
    this.description = description;
  }
}
