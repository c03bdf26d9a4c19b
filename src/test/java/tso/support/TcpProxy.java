package tso.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A loopback TCP proxy in front of one port (a Redis, say), so a test can break one client's link
 * while the others still reach the server: give each client its own proxy.
 *
 * <ul>
 *   <li>{@link #cut()}: every current connection is reset (RST to both the client and the
 *       server), and new connections are accepted and reset at once: the client sees
 *       "connection reset" right away.</li>
 *   <li>{@link #blackhole()}: a network partition where packets vanish. Nothing is forwarded in
 *       either direction, and nothing is closed: connections stay open, writes succeed (until the
 *       socket buffers fill), replies never come, and neither side learns that the other died.
 *       New connections complete (the kernel accepts them) but reach nothing. As with TCP's
 *       retransmission, nothing is lost either: {@link #restore()} delivers what was held back,
 *       in order, and connects the held new connections through. A cut during a blackhole resets
 *       everything, as a connection that timed out during the partition would be.</li>
 *   <li>{@link #restore()}: forwarding again. Connections reset by a cut stay gone; clients
 *       reconnect.</li>
 * </ul>
 *
 * <p>{@link #holdRepliesAfter(byte[])} holds back the server's replies on any connection whose
 * client sends the given bytes (a script's SHA-1, say), until {@link #releaseReplies()}: the
 * request reaches the server and runs, only its answer is late, and the other connections go on.
 *
 * <p>When either side closes its connection, the proxy closes the other side (no half-close):
 * a client sees the server die as it would without the proxy. If nothing listens at the target,
 * connections are accepted and reset.
 *
 * <p>Blocking sockets, two threads per connection: test code, small numbers of connections.
 */
public final class TcpProxy implements AutoCloseable {

  public enum Mode { OPEN, CUT, BLACKHOLE }

  private final ServerSocket server;
  private final InetSocketAddress target;
  private final Object lock = new Object();
  private final Set<Link> links = ConcurrentHashMap.newKeySet();
  private final AtomicLong accepted = new AtomicLong();
  private final AtomicLong forwardedBytes = new AtomicLong();
  private final AtomicInteger ids = new AtomicInteger();
  private final Thread acceptor;
  private Mode mode = Mode.OPEN;
  private boolean closed;
  private volatile byte[] holdMarker;
  private final AtomicInteger holding = new AtomicInteger();

  private TcpProxy(ServerSocket server, InetSocketAddress target) {
    this.server = server;
    this.target = target;
    this.acceptor = new Thread(this::acceptLoop, "tcp-proxy-" + server.getLocalPort() + "-accept");
    this.acceptor.setDaemon(true);
  }

  /** A proxy on a free loopback port in front of 127.0.0.1:targetPort. */
  public static TcpProxy start(int targetPort) {
    return start(new InetSocketAddress(InetAddress.getLoopbackAddress(), targetPort));
  }

  public static TcpProxy start(InetSocketAddress target) {
    try {
      ServerSocket s = new ServerSocket();
      s.setReuseAddress(true);
      s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 128);
      TcpProxy p = new TcpProxy(s, target);
      p.acceptor.start();
      return p;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The port clients connect to. */
  public int port() {
    return server.getLocalPort();
  }

  /** {@code redis://127.0.0.1:PORT} for this proxy's port. */
  public String url() {
    return "redis://127.0.0.1:" + port();
  }

  public Mode mode() {
    synchronized (lock) {
      return mode;
    }
  }

  /** Resets every current connection; new ones are reset on arrival until {@link #restore()}. */
  public void cut() {
    List<Link> victims;
    synchronized (lock) {
      mode = Mode.CUT;
      victims = new ArrayList<>(links);
      lock.notifyAll();
    }
    for (Link l : victims) {
      l.reset();
    }
  }

  /** Forwards nothing and closes nothing until {@link #restore()} or {@link #cut()}. */
  public void blackhole() {
    synchronized (lock) {
      mode = Mode.BLACKHOLE;
      lock.notifyAll();
    }
  }

  /** Forwarding again, including what a blackhole held back. */
  public void restore() {
    synchronized (lock) {
      mode = Mode.OPEN;
      lock.notifyAll();
    }
  }

  /** From now on, a connection whose client sends {@code marker} gets no replies until {@link #releaseReplies()}. */
  public void holdRepliesAfter(byte[] marker) {
    holdMarker = marker.clone();
  }

  /** Connections whose replies are held now. */
  public int holdingReplies() {
    return holding.get();
  }

  /** Delivers every held reply, in order, and holds no more. */
  public void releaseReplies() {
    synchronized (lock) {
      holdMarker = null;
      for (Link l : links) {
        if (l.holdDown) {
          l.holdDown = false;
          holding.decrementAndGet();
        }
      }
      lock.notifyAll();
    }
  }

  /** Connections accepted so far (including the ones reset by a cut). */
  public long accepted() {
    return accepted.get();
  }

  /** Connections currently forwarded (or held by a blackhole). */
  public int openConnections() {
    return links.size();
  }

  /** Bytes forwarded so far, both directions. */
  public long forwardedBytes() {
    return forwardedBytes.get();
  }

  @Override
  public void close() {
    List<Link> victims;
    synchronized (lock) {
      closed = true;
      victims = new ArrayList<>(links);
      lock.notifyAll();
    }
    Resp.closeQuietly(server);
    for (Link l : victims) {
      l.reset();
    }
    try {
      acceptor.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public String toString() {
    return "TcpProxy[" + port() + " -> " + target.getPort() + ", " + mode() + "]";
  }

  // ---------------------------------------------------------------------------------------------

  private void acceptLoop() {
    while (true) {
      Socket client;
      try {
        client = server.accept();
      } catch (IOException e) {
        synchronized (lock) {
          if (closed) {
            return;
          }
        }
        continue;
      }
      accepted.incrementAndGet();
      try {
        client.setTcpNoDelay(true);
      } catch (IOException e) {
        // not important
      }
      // Partition: hold it, reaching nothing, until the partition heals or is cut.
      if (!awaitForwarding()) {
        reset(client);
        continue;
      }
      Socket upstream = new Socket();
      try {
        upstream.setTcpNoDelay(true);
        upstream.connect(target, 2000);
      } catch (IOException e) {
        // Target down: the client sees its connection reset.
        reset(upstream);
        reset(client);
        continue;
      }
      Link link = new Link(ids.incrementAndGet(), client, upstream);
      synchronized (lock) {
        if (closed || mode == Mode.CUT) {
          link.reset();
          continue;
        }
        links.add(link);
      }
      link.start();
    }
  }

  /** Waits while blackholed; true if forwarding may go on, false if cut or closed. */
  private boolean awaitForwarding() {
    synchronized (lock) {
      while (mode == Mode.BLACKHOLE && !closed) {
        try {
          lock.wait();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return false;
        }
      }
      return mode == Mode.OPEN && !closed;
    }
  }

  private static boolean contains(byte[] buf, int n, byte[] marker) {
    outer:
    for (int i = 0; i + marker.length <= n; i++) {
      for (int j = 0; j < marker.length; j++) {
        if (buf[i + j] != marker[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  private static void reset(Socket s) {
    try {
      s.setSoLinger(true, 0);
    } catch (IOException e) {
      // closed already
    }
    Resp.closeQuietly(s);
  }

  private final class Link {
    private final Socket client;
    private final Socket upstream;
    private final int id;
    private final AtomicBoolean gone = new AtomicBoolean();
    /** The server's replies wait (see {@link #holdRepliesAfter}); guarded by the proxy's lock. */
    boolean holdDown;

    Link(int id, Socket client, Socket upstream) {
      this.id = id;
      this.client = client;
      this.upstream = upstream;
    }

    void start() {
      String name = "tcp-proxy-" + port() + "-" + id;
      Thread up = new Thread(() -> pump(client, upstream, true), name + "-up");
      Thread down = new Thread(() -> pump(upstream, client, false), name + "-down");
      up.setDaemon(true);
      down.setDaemon(true);
      up.start();
      down.start();
    }

    private void pump(Socket from, Socket to, boolean up) {
      byte[] buf = new byte[16 * 1024];
      try {
        InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream();
        while (true) {
          int n = in.read(buf);
          if (!awaitForwarding()) {
            reset();
            return;
          }
          if (n < 0) {
            // One side closed: close the other (no half-close), as a dead server's socket would be.
            break;
          }
          byte[] marker = holdMarker;
          if (up && marker != null && contains(buf, n, marker)) {
            synchronized (lock) {
              if (!holdDown) {
                holdDown = true;
                holding.incrementAndGet();
              }
            }
          }
          if (!up && !awaitReplies()) {
            reset();
            return;
          }
          out.write(buf, 0, n);
          forwardedBytes.addAndGet(n);
        }
      } catch (IOException e) {
        // Reset, or the other side went away: pass it on (after a partition heals).
        awaitForwarding();
        reset();
        return;
      }
      close(false);
    }

    /** Waits while this link's replies are held; false when cut or closed meanwhile. */
    private boolean awaitReplies() {
      synchronized (lock) {
        while (holdDown && !closed && mode != Mode.CUT) {
          try {
            lock.wait();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
          }
        }
        return !closed && mode != Mode.CUT;
      }
    }

    void reset() {
      close(true);
    }

    private void close(boolean rst) {
      if (!gone.compareAndSet(false, true)) {
        return;
      }
      links.remove(this);
      if (rst) {
        TcpProxy.reset(client);
        TcpProxy.reset(upstream);
      } else {
        Resp.closeQuietly(client);
        Resp.closeQuietly(upstream);
      }
    }
  }
}
