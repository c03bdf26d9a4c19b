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
  CLOCK_OFFSET_MS("TSO_CLOCK_OFFSET_MS", "--clock-offset-ms", "0", "added to the wall clock (fault injection and tests only)"),
  TLS_CERT("TSO_TLS_CERT", "--tls-cert", null, "PEM certificate chain: with TSO_TLS_KEY, the port speaks TLS only (HTTP/1.1, and HTTP/2 via ALPN for gRPC); re-read when the file changes"),
  TLS_KEY("TSO_TLS_KEY", "--tls-key", null, "PEM private key (PKCS#8, or PKCS#1 RSA) of TSO_TLS_CERT; re-read when the file changes"),
  TLS_CLIENT_CA("TSO_TLS_CLIENT_CA", "--tls-client-ca", null, "PEM bundle: every client must present a certificate that chains to it (mutual TLS)"),
  TLS_CA("TSO_TLS_CA", "--tls-ca", null, "PEM bundle a node trusts when it forwards to another member (default: TSO_TLS_CLIENT_CA when set, else the JDK's trust store)"),
  HEALTH_PORT("TSO_HEALTH_PORT", "--health-port", null, "a second port serving only /health/live and /health/ready over plain HTTP, for probes that cannot do (mutual) TLS; unset: none"),
  MAX_CONNECTIONS("TSO_MAX_CONNECTIONS", "--max-connections", "2048", "open connections to the port, at most; one more is closed at once"),
  REDIS_CA("TSO_REDIS_CA", "--redis-ca", null, "PEM bundle trusted for rediss:// (default: the JDK's trust store)"),
  REDIS_CERT("TSO_REDIS_CERT", "--redis-cert", null, "PEM client certificate for Redis over TLS (with TSO_REDIS_KEY)"),
  REDIS_KEY("TSO_REDIS_KEY", "--redis-key", null, "PEM private key of TSO_REDIS_CERT"),
  REDIS_PASSWORD_FILE("TSO_REDIS_PASSWORD_FILE", "--redis-password-file", null, "a file holding the Redis password (overrides one in the URL); never logged"),
  LOG_FORMAT("TSO_LOG_FORMAT", "--log-format", "text", "text, or json: one JSON object a line (time, level, logger, message, and node, role and epoch)"),
  UNSAFE_TEST_SETTINGS("TSO_UNSAFE_TEST_SETTINGS", "--unsafe-test-settings", "false", "true: allow the no-op endpoint and the clock offset on a TLS node (tests and benchmarks only)");

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
