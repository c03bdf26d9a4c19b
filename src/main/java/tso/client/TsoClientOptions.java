package tso.client;

import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.net.KeyCertOptions;
import io.vertx.core.net.TrustOptions;

/**
 * Options of a {@link TsoClient}, Vert.x style: fluent setters, {@code DEFAULT_…} constants. A
 * setter refuses a value out of range with IllegalArgumentException.
 *
 * <p>TLS, for members whose port speaks it: {@link #setSsl(boolean) setSsl(true)}, and the CAs to
 * trust (else the JDK's trust store) and, for mutual TLS, the client's certificate, as Vert.x
 * options. gRPC then goes over TLS with ALPN {@code h2}, and each member's certificate must name
 * the host it is dialled as (the address given at creation, or the one a member names as leader).
 *
 * <pre>{@code
 * new TsoClientOptions().setSsl(true)
 *     .setTrustOptions(new PemTrustOptions().addCertPath("ca.pem"))
 *     .setKeyCertOptions(new PemKeyCertOptions().setCertPath("client.pem").setKeyPath("client-key.pem"));
 * }</pre>
 */
public final class TsoClientOptions {

  /**
   * Connections (each one gRPC stream to the leader, on its own event loop). One carries well over
   * a million timestamps a second; more spread the client's work over more event loops.
   */
  public static final int DEFAULT_CONNECTIONS = 1;
  /**
   * Batches out at once per connection. One, as Percolator's workers keep one request to the oracle
   * pending: the next batch forms while one is out, so batches grow with load.
   */
  public static final int DEFAULT_MAX_BATCHES_IN_FLIGHT = 1;
  /** How long a batch may wait for more calls before it leaves; 0: it leaves when a slot is free. */
  public static final long DEFAULT_MAX_BATCH_WAIT_MICROS = 0;
  /** Timestamps in one batch at most, as PD's client merges up to 10,000 requests into one RPC. */
  public static final int DEFAULT_MAX_BATCH_SIZE = 10_000;
  /**
   * Calls waiting in the client at most (queued or in flight, all connections); one more fails at
   * once with RESOURCE_EXHAUSTED. Ten full batches per connection at the defaults.
   */
  public static final int DEFAULT_MAX_WAITING = 100_000;
  /**
   * How long a call may take, retries included. At the default lease TTL (2 s) a failover takes at
   * most about two TTLs: a paused leader holds its lease to the end, and a successor takes over a
   * TTL after it last saw the lease renewed. Add the RPC timeout and a reconnect, and 10 s rides out
   * one failover with room to spare (the README gives the measured failover times).
   */
  public static final long DEFAULT_DEADLINE_MS = 10_000;
  /**
   * How long the oldest batch on a stream may wait for its answer before the stream is given up and
   * the batch sent again elsewhere. A serving node answers or refuses within tens of
   * milliseconds; a node paused or cut off answers never, and a failover is
   * detected no later than this.
   */
  public static final long DEFAULT_RPC_TIMEOUT_MS = 1_000;
  /** Connect and GetLeader timeout. */
  public static final long DEFAULT_CONNECT_TIMEOUT_MS = 1_000;
  /** First reconnect backoff; it doubles with each failure in a row, jittered to 50-100%. */
  public static final long DEFAULT_RECONNECT_BACKOFF_MIN_MS = 10;
  /** Largest reconnect backoff. */
  public static final long DEFAULT_RECONNECT_BACKOFF_MAX_MS = 500;
  /** Largest count one range can have: 2^18 logical values in a millisecond. */
  public static final int MAX_COUNT = 1 << 18;
  /** TLS: off. */
  public static final boolean DEFAULT_SSL = false;
  /** With TLS, a member's certificate must name the host dialled. */
  public static final boolean DEFAULT_VERIFY_HOST = true;

  private int connections = DEFAULT_CONNECTIONS;
  private int maxBatchesInFlight = DEFAULT_MAX_BATCHES_IN_FLIGHT;
  private long maxBatchWaitMicros = DEFAULT_MAX_BATCH_WAIT_MICROS;
  private int maxBatchSize = DEFAULT_MAX_BATCH_SIZE;
  private int maxWaiting = DEFAULT_MAX_WAITING;
  private long deadlineMs = DEFAULT_DEADLINE_MS;
  private long rpcTimeoutMs = DEFAULT_RPC_TIMEOUT_MS;
  private long connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS;
  private long reconnectBackoffMinMs = DEFAULT_RECONNECT_BACKOFF_MIN_MS;
  private long reconnectBackoffMaxMs = DEFAULT_RECONNECT_BACKOFF_MAX_MS;
  private MeterRegistry meterRegistry;
  private boolean ssl = DEFAULT_SSL;
  private TrustOptions trustOptions;
  private KeyCertOptions keyCertOptions;
  private boolean verifyHost = DEFAULT_VERIFY_HOST;

  public TsoClientOptions() {
  }

  public TsoClientOptions(TsoClientOptions other) {
    connections = other.connections;
    maxBatchesInFlight = other.maxBatchesInFlight;
    maxBatchWaitMicros = other.maxBatchWaitMicros;
    maxBatchSize = other.maxBatchSize;
    maxWaiting = other.maxWaiting;
    deadlineMs = other.deadlineMs;
    rpcTimeoutMs = other.rpcTimeoutMs;
    connectTimeoutMs = other.connectTimeoutMs;
    reconnectBackoffMinMs = other.reconnectBackoffMinMs;
    reconnectBackoffMaxMs = other.reconnectBackoffMaxMs;
    meterRegistry = other.meterRegistry;
    ssl = other.ssl;
    trustOptions = other.trustOptions == null ? null : other.trustOptions.copy();
    keyCertOptions = other.keyCertOptions == null ? null : other.keyCertOptions.copy();
    verifyHost = other.verifyHost;
  }

  private static long check(String name, long v, long min, long max) {
    if (v < min || v > max) {
      throw new IllegalArgumentException(name + " " + v + " is out of range " + min + ".." + max);
    }
    return v;
  }

  public int getConnections() {
    return connections;
  }

  public TsoClientOptions setConnections(int connections) {
    this.connections = (int) check("connections", connections, 1, 1024);
    return this;
  }

  public int getMaxBatchesInFlight() {
    return maxBatchesInFlight;
  }

  public TsoClientOptions setMaxBatchesInFlight(int n) {
    this.maxBatchesInFlight = (int) check("maxBatchesInFlight", n, 1, 1024);
    return this;
  }

  public long getMaxBatchWaitMicros() {
    return maxBatchWaitMicros;
  }

  public TsoClientOptions setMaxBatchWaitMicros(long micros) {
    this.maxBatchWaitMicros = check("maxBatchWaitMicros", micros, 0, 1_000_000);
    return this;
  }

  public int getMaxBatchSize() {
    return maxBatchSize;
  }

  /** Also the largest count one call may ask for. Keep it at or below the server's TSO_MAX_COUNT. */
  public TsoClientOptions setMaxBatchSize(int n) {
    this.maxBatchSize = (int) check("maxBatchSize", n, 1, MAX_COUNT);
    return this;
  }

  public int getMaxWaiting() {
    return maxWaiting;
  }

  public TsoClientOptions setMaxWaiting(int n) {
    this.maxWaiting = (int) check("maxWaiting", n, 1, 100_000_000);
    return this;
  }

  public long getDeadlineMs() {
    return deadlineMs;
  }

  public TsoClientOptions setDeadlineMs(long ms) {
    this.deadlineMs = check("deadlineMs", ms, 1, 3_600_000);
    return this;
  }

  public long getRpcTimeoutMs() {
    return rpcTimeoutMs;
  }

  public TsoClientOptions setRpcTimeoutMs(long ms) {
    this.rpcTimeoutMs = check("rpcTimeoutMs", ms, 10, 3_600_000);
    return this;
  }

  public long getConnectTimeoutMs() {
    return connectTimeoutMs;
  }

  public TsoClientOptions setConnectTimeoutMs(long ms) {
    this.connectTimeoutMs = check("connectTimeoutMs", ms, 10, 600_000);
    return this;
  }

  public long getReconnectBackoffMinMs() {
    return reconnectBackoffMinMs;
  }

  public long getReconnectBackoffMaxMs() {
    return reconnectBackoffMaxMs;
  }

  public TsoClientOptions setReconnectBackoff(long minMs, long maxMs) {
    check("reconnectBackoffMinMs", minMs, 1, 600_000);
    this.reconnectBackoffMaxMs = check("reconnectBackoffMaxMs", maxMs, minMs, 600_000);
    this.reconnectBackoffMinMs = minMs;
    return this;
  }

  public MeterRegistry getMeterRegistry() {
    return meterRegistry;
  }

  /** Where the client's metrics go ({@code tso_client_…}); none when unset. */
  public TsoClientOptions setMeterRegistry(MeterRegistry registry) {
    this.meterRegistry = registry;
    return this;
  }

  public boolean isSsl() {
    return ssl;
  }

  /** TLS to the members (gRPC over TLS, ALPN h2); off by default. */
  public TsoClientOptions setSsl(boolean ssl) {
    this.ssl = ssl;
    return this;
  }

  public TrustOptions getTrustOptions() {
    return trustOptions;
  }

  /**
   * The CAs a member's certificate must chain to, e.g. {@code new PemTrustOptions().addCertPath("ca.pem")};
   * null (the default): the JDK's trust store. Needs {@link #setSsl(boolean) setSsl(true)}.
   */
  public TsoClientOptions setTrustOptions(TrustOptions trust) {
    this.trustOptions = trust;
    return this;
  }

  public KeyCertOptions getKeyCertOptions() {
    return keyCertOptions;
  }

  /**
   * The client's certificate and key, presented to members that require one (mutual TLS), e.g.
   * {@code new PemKeyCertOptions().setCertPath("client.pem").setKeyPath("client-key.pem")}; null
   * (the default): none. Needs {@link #setSsl(boolean) setSsl(true)}.
   */
  public TsoClientOptions setKeyCertOptions(KeyCertOptions keyCert) {
    this.keyCertOptions = keyCert;
    return this;
  }

  public boolean isVerifyHost() {
    return verifyHost;
  }

  /**
   * With TLS, whether a member's certificate must name the host dialled (a DNS name or IP address
   * in its subject alternative names, as HTTPS checks it). On by default; turning it off lets any
   * certificate from a trusted CA stand for any member.
   */
  public TsoClientOptions setVerifyHost(boolean verifyHost) {
    this.verifyHost = verifyHost;
    return this;
  }
}
