package tso.server;

import io.vertx.core.http.HttpConnection;

import java.lang.System.Logger.Level;
import java.util.concurrent.atomic.AtomicInteger;

import tso.log.RateLimited;

/**
 * The listener's connection limit (TSO_MAX_CONNECTIONS), shared by every event loop's instance: a
 * connection beyond it is closed as soon as it is accepted, so a flood of idle connections cannot
 * exhaust the node's memory or file descriptors.
 */
public final class Connections {

  private static final System.Logger LOG = System.getLogger(Connections.class.getName());

  private final int max;
  private final AtomicInteger open = new AtomicInteger();
  /** Called from every event loop, rarely: guarded by itself. */
  private final RateLimited refusals = new RateLimited();

  public Connections(int max) {
    this.max = max;
  }

  /** Open connections now. */
  public int open() {
    return open.get();
  }

  void opened(HttpConnection c) {
    if (open.incrementAndGet() > max) {
      open.decrementAndGet();
      synchronized (refusals) {
        refusals.log(LOG, Level.WARNING, "connections", RateLimited.DEFAULT_INTERVAL_NANOS,
            "closed a connection from {0}: {1} are open already (TSO_MAX_CONNECTIONS)", c.remoteAddress(), max);
      }
      c.close();
      return;
    }
    c.closeHandler(v -> open.decrementAndGet());
  }
}
