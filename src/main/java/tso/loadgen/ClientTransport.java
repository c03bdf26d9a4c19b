package tso.loadgen;

import io.vertx.core.Future;

import tso.client.Timestamp;
import tso.client.TimestampRange;
import tso.client.TsoClient;
import tso.client.TsoClientException;

/**
 * A caller's view of the one {@link TsoClient} a {@code --protocol client} run makes: each
 * {@code send} is one call of the client's public API ({@code next()} for one timestamp,
 * {@code next(count)} for more), answered on the caller's event loop.
 */
final class ClientTransport implements Transport {

  private final TsoClient client;
  private long epoch;

  ClientTransport(TsoClient client) {
    this.client = client;
  }

  @Override
  public Future<Long> send(int count) {
    if (count == 1) {
      return client.next().transform(ar -> {
        if (ar.failed()) {
          return Future.failedFuture(failure(ar.cause()));
        }
        Timestamp t = ar.result();
        epoch = t.epoch();
        return Future.succeededFuture(t.value());
      });
    }
    return client.next(count).transform(ar -> {
      if (ar.failed()) {
        return Future.failedFuture(failure(ar.cause()));
      }
      TimestampRange r = ar.result();
      epoch = r.epoch();
      return Future.succeededFuture(r.first());
    });
  }

  private static Throwable failure(Throwable t) {
    return new Failure(t instanceof TsoClientException e ? e.code().name() : t.getClass().getSimpleName());
  }

  @Override
  public long epoch() {
    return epoch;
  }

  @Override
  public Future<Void> close() {
    return Future.succeededFuture(); // the client is closed once, by the run
  }
}
