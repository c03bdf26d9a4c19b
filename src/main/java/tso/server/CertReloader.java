package tso.server;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;

import java.lang.System.Logger.Level;

import tso.config.Security;

/**
 * Re-reads the port's certificate and key every {@link #PERIOD_MS} (asynchronously: never a
 * blocking read on the event loop) and, when either changed, gives the listener the new pair, as
 * cert-manager rotates them in place. New connections get the new certificate; open ones keep
 * their session. A pair that does not load (a half-written rotation: the new certificate with the
 * old key) is logged and tried again at the next look, the old pair serving meanwhile.
 */
final class CertReloader {

  private static final System.Logger LOG = System.getLogger(CertReloader.class.getName());

  /** How often the files are looked at: cert-manager renews days ahead, so seconds are plenty. */
  static final long PERIOD_MS = 2_000;

  private final Vertx vertx;
  private final Security security;
  private final HttpServer server;
  private Buffer cert;
  private Buffer key;
  private boolean busy;
  private long timer = -1;

  /** @param cert, key what the listener was started with */
  CertReloader(Vertx vertx, Security security, HttpServer server, Buffer cert, Buffer key) {
    this.vertx = vertx;
    this.security = security;
    this.server = server;
    this.cert = cert;
    this.key = key;
  }

  void start() {
    timer = vertx.setPeriodic(PERIOD_MS, id -> look());
  }

  void stop() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
  }

  private void look() {
    if (busy) {
      return;
    }
    busy = true;
    Future<Buffer> c = vertx.fileSystem().readFile(security.tlsCert().toString());
    Future<Buffer> k = vertx.fileSystem().readFile(security.tlsKey().toString());
    Future.all(c, k).compose(v -> {
      if (c.result().equals(cert) && k.result().equals(key)) {
        return Future.succeededFuture(false);
      }
      return server.updateSSLOptions(Tls.reloaded(security, c.result(), k.result())).map(updated -> {
        cert = c.result();
        key = k.result();
        LOG.log(Level.INFO, "TLS certificate {0} re-read: new connections get it", security.tlsCert());
        return true;
      });
    }).onComplete(ar -> {
      busy = false;
      if (ar.failed()) {
        LOG.log(Level.WARNING, "TLS certificate {0} or key {1} could not be loaded ({2}); the previous pair still "
            + "serves; trying again in {3} ms", security.tlsCert(), security.tlsKey(), ar.cause().getMessage(), PERIOD_MS);
      }
    });
  }
}
