package tso.client;

import io.vertx.core.Future;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.common.GrpcStatus;

import java.util.concurrent.TimeUnit;

import tso.proto.v1.GetLeaderRequest;
import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.LeaderInfo;
import tso.proto.v1.TimestampOracleGrpcClient;
import tso.proto.v1.TimestampRange;

/**
 * {@link Transport} over Vert.x's gRPC client: {@code StreamTimestamps} and {@code GetLeader} of
 * {@code tso.v1.TimestampOracle}. Streams opened through one {@link GrpcClient} share its
 * connection to each member; a client that wants several connections uses several transports.
 */
public final class GrpcTransport implements Transport {

  /** Trailer with the leader's address on UNAVAILABLE, as the contract names it. */
  static final String LEADER_TRAILER = "tso-leader";

  private final GrpcClient client;
  private final long leaderTimeoutMs;
  private final boolean owned;

  /**
   * @param leaderTimeoutMs how long a {@code GetLeader} may take
   * @param owned           close the gRPC client with the transport
   */
  public GrpcTransport(GrpcClient client, long leaderTimeoutMs, boolean owned) {
    this.client = client;
    this.leaderTimeoutMs = leaderTimeoutMs;
    this.owned = owned;
  }

  /** host:port (IPv6 in brackets) as a socket address; IllegalArgumentException when it is not one. */
  static SocketAddress socketAddress(String address) {
    int colon = address.lastIndexOf(':');
    if (colon <= 0 || colon == address.length() - 1) {
      throw new IllegalArgumentException("not host:port: " + address);
    }
    int port;
    try {
      port = Integer.parseInt(address.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not host:port: " + address);
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("not host:port: " + address);
    }
    return SocketAddress.inetSocketAddress(port, address.substring(0, colon).replace("[", "").replace("]", ""));
  }

  @Override
  public Future<Stream> open(String address, Listener listener) {
    SocketAddress to;
    try {
      to = socketAddress(address);
    } catch (IllegalArgumentException e) {
      return Future.failedFuture(e);
    }
    return client.request(to, TimestampOracleGrpcClient.StreamTimestamps).map(call -> {
      Ending end = new Ending(listener);
      call.exceptionHandler(e -> end.ended("TRANSPORT", "the stream to " + address + " failed: " + e.getMessage(), null));
      call.response().onComplete(rr -> {
        if (rr.failed()) {
          end.ended("TRANSPORT", "the stream to " + address + " failed: " + rr.cause().getMessage(), null);
          return;
        }
        GrpcClientResponse<GetTimestampsRequest, TimestampRange> resp = rr.result();
        resp.handler(r -> {
          if (!end.done) {
            listener.range(r.getTimestamp(), r.getCount(), r.getEpoch());
          }
        });
        resp.exceptionHandler(e -> end.ended("TRANSPORT", "the stream to " + address + " failed: " + e.getMessage(), null));
        resp.endHandler(v -> {
          // The member ended the call: end our half too. Vert.x's cancel() does nothing once the
          // response has ended with an error status, so left open the stream would stay
          // half-closed on both sides for as long as the connection lives: one of the member's
          // concurrent streams taken for good, and a stopping member waits its whole shutdown
          // grace period for it.
          end.closeOurHalf(call);
          GrpcStatus st = resp.status();
          String code = st == null || st == GrpcStatus.OK ? "UNAVAILABLE" : st.name();
          String msg = resp.statusMessage();
          end.ended(code, address + " ended the stream" + (st == null ? "" : ": " + st + (msg == null ? "" : " " + msg)),
              leader(resp));
        });
      });
      return new Stream() {
        @Override
        public void request(int count) {
          call.write(GetTimestampsRequest.newBuilder().setCount(count).build());
        }

        @Override
        public void cancel() {
          end.done = true;
          if (!end.halfClosed) {
            end.halfClosed = true;
            call.cancel();
          }
        }
      };
    });
  }

  /**
   * The leader a member named on ending a call. A call refused before any answer gets a
   * trailers-only response, whose trailers Vert.x hands over as the response's headers.
   */
  private static String leader(GrpcClientResponse<?, ?> resp) {
    String named = resp.trailers() == null ? null : resp.trailers().get(LEADER_TRAILER);
    return named != null || resp.headers() == null ? named : resp.headers().get(LEADER_TRAILER);
  }

  /** Reports a stream's end once, and closes this side of it once. */
  private static final class Ending {
    final Listener listener;
    boolean done;
    boolean halfClosed;

    Ending(Listener listener) {
      this.listener = listener;
    }

    void ended(String code, String message, String leader) {
      if (!done) {
        done = true;
        listener.ended(code, message, leader);
      }
    }

    void closeOurHalf(GrpcClientRequest<GetTimestampsRequest, TimestampRange> call) {
      if (!halfClosed) {
        halfClosed = true;
        try {
          call.end();
        } catch (IllegalStateException e) {
          // already reset: nothing of it is left open
        }
      }
    }
  }

  @Override
  public Future<String> leader(String address) {
    SocketAddress to;
    try {
      to = socketAddress(address);
    } catch (IllegalArgumentException e) {
      return Future.failedFuture(e);
    }
    // A member that does not answer (paused, overloaded) must not keep the call: once the ask has
    // timed out its stream is reset, or every ask would leave one open on the connection until the
    // member answers. The timeout can also fire before the call was even made.
    java.util.concurrent.atomic.AtomicReference<GrpcClientRequest<GetLeaderRequest, LeaderInfo>> sent =
        new java.util.concurrent.atomic.AtomicReference<>();
    java.util.concurrent.atomic.AtomicBoolean gaveUp = new java.util.concurrent.atomic.AtomicBoolean();
    return client.request(to, TimestampOracleGrpcClient.GetLeader)
        .compose((GrpcClientRequest<GetLeaderRequest, LeaderInfo> req) -> {
          sent.set(req);
          if (gaveUp.get()) {
            req.cancel();
            return Future.failedFuture("GetLeader timed out");
          }
          req.end(GetLeaderRequest.getDefaultInstance());
          return req.response().compose(resp -> resp.last());
        })
        .timeout(leaderTimeoutMs, TimeUnit.MILLISECONDS)
        .onFailure(e -> {
          gaveUp.set(true);
          GrpcClientRequest<GetLeaderRequest, LeaderInfo> req = sent.get();
          if (req != null) {
            req.cancel();
          }
        })
        .map(info -> {
          // A member that serves itself is reached where it was dialled; its advertised address
          // may be one only its peers can use (0.0.0.0:port by default).
          if (info.getRole().equals("leader") || info.getRole().equals("standalone")) {
            return address;
          }
          return info.hasLeader() && !info.getLeader().getAddress().isEmpty() ? info.getLeader().getAddress() : null;
        });
  }

  @Override
  public Future<Void> close() {
    return owned ? client.close() : Future.succeededFuture();
  }
}
