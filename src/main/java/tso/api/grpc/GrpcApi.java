package tso.api.grpc;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.server.GrpcServerRequest;
import io.vertx.grpc.server.GrpcServerResponse;
import io.vertx.grpc.server.Service;

import java.util.ArrayDeque;

import tso.core.NodeView;
import tso.core.TimestampSink;
import tso.core.TsoError;
import tso.core.TsoRequest;
import tso.metrics.TsoMetrics.Api;
import tso.metrics.TsoMetrics;
import tso.proto.v1.GetLeaderRequest;
import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.LeaderInfo;
import tso.proto.v1.Member;
import tso.proto.v1.NoopGrpcService;
import tso.proto.v1.TimestampOracleGrpcService;
import tso.proto.v1.TimestampRange;

/**
 * The gRPC API of the contract ({@code tso.v1.TimestampOracle}). It only translates between
 * protobuf and the {@link TimestampSink}; bad input gets INVALID_ARGUMENT, never INTERNAL.
 */
public final class GrpcApi {

  /** Trailer with the leader's address on UNAVAILABLE, as the contract names it. */
  public static final String LEADER_TRAILER = "tso-leader";

  private final TimestampSink service;
  private final NodeView view;
  private final TsoMetrics metrics;
  private final int maxCount;
  private final int streamWindow;
  /** Streams not yet ended; used on the API's event loop only. */
  private final java.util.Set<StreamCall> open = new java.util.HashSet<>();
  private boolean closing;

  /**
   * @param streamWindow answers one stream may have outstanding before it stops reading
   */
  public GrpcApi(TimestampSink service, NodeView view, TsoMetrics metrics, int maxCount, int streamWindow) {
    this.service = service;
    this.view = view;
    this.metrics = metrics;
    this.maxCount = maxCount;
    this.streamWindow = streamWindow;
  }

  private static ServiceMethod<Lenient<GetTimestampsRequest>, TimestampRange> getTimestamps(ServiceName service) {
    return ServiceMethod.server(service, "GetTimestamps", GrpcMessageEncoder.encoder(),
        Lenient.decoder(GetTimestampsRequest.parser()));
  }

  private static ServiceMethod<Lenient<GetTimestampsRequest>, TimestampRange> streamTimestamps(ServiceName service) {
    return ServiceMethod.server(service, "StreamTimestamps", GrpcMessageEncoder.encoder(),
        Lenient.decoder(GetTimestampsRequest.parser()));
  }

  private static final ServiceMethod<Lenient<GetLeaderRequest>, LeaderInfo> GET_LEADER =
      ServiceMethod.server(TimestampOracleGrpcService.SERVICE_NAME, "GetLeader", GrpcMessageEncoder.encoder(),
          Lenient.decoder(GetLeaderRequest.parser()));

  /** {@code tso.v1.TimestampOracle} with its three methods bound, for {@code GrpcServer.addService}. */
  public Service service() {
    ServiceName name = TimestampOracleGrpcService.SERVICE_NAME;
    return Service.service(name, TimestampOracleGrpcService.SERVICE_DESCRIPTOR)
        .bind(getTimestamps(name), this::unary)
        .bind(streamTimestamps(name), this::stream)
        .bind(GET_LEADER, this::leader)
        .build();
  }

  /**
   * {@code tso.v1.Noop}: the same two timestamp methods, the same code, answered by whatever sink
   * this instance was built with (the no-op one, for benchmarks); UNIMPLEMENTED while {@code open}
   * says no.
   */
  public Service noopService(java.util.function.Predicate<io.vertx.core.http.HttpConnection> open) {
    ServiceName name = NoopGrpcService.SERVICE_NAME;
    return Service.service(name, NoopGrpcService.SERVICE_DESCRIPTOR)
        .bind(getTimestamps(name), whenOpen(open, this::unary))
        .bind(streamTimestamps(name), whenOpen(open, this::stream))
        .build();
  }

  private static <Req, Resp> io.vertx.core.Handler<GrpcServerRequest<Req, Resp>> whenOpen(
      java.util.function.Predicate<io.vertx.core.http.HttpConnection> open,
      io.vertx.core.Handler<GrpcServerRequest<Req, Resp>> handler) {
    return req -> {
      if (open.test(req.connection())) {
        handler.handle(req);
      } else {
        req.response().status(GrpcStatus.UNIMPLEMENTED).statusMessage("TSO_NOOP_ENDPOINT is off").end();
      }
    };
  }

  /** count 0 means 1; returns -1 when out of range (uint32 arrives as a signed int). */
  private int count(GetTimestampsRequest msg) {
    return count(msg, maxCount);
  }

  static int count(GetTimestampsRequest msg, int maxCount) {
    int c = msg.getCount();
    if (c == 0) {
      return 1;
    }
    return Integer.compareUnsigned(c, maxCount) <= 0 ? c : -1;
  }

  private String countMessage(GetTimestampsRequest msg) {
    return countMessage(msg, maxCount);
  }

  static String countMessage(GetTimestampsRequest msg, int maxCount) {
    return "count must be from 1 to " + maxCount + " (0 means 1), got " + Integer.toUnsignedString(msg.getCount());
  }

  private void unary(GrpcServerRequest<Lenient<GetTimestampsRequest>, TimestampRange> req) {
    long arrived = System.nanoTime();
    GrpcServerResponse<Lenient<GetTimestampsRequest>, TimestampRange> resp = req.response();
    // [0]: a message was seen (a unary call carries one); [1]: the call is over
    boolean[] state = {false, false};
    req.errorHandler(e -> state[1] = true); // cancelled by the client
    req.invalidMessageHandler(e -> {
      if (!state[1]) {
        state[1] = true;
        metrics.failed(Api.GRPC_UNARY, TsoError.INVALID_ARGUMENT, System.nanoTime() - arrived);
        end(resp, TsoError.INVALID_ARGUMENT, "malformed request message");
      }
    });
    req.handler(in -> {
      if (state[0] || state[1]) {
        return;
      }
      state[0] = true;
      if (!in.ok()) {
        state[1] = true;
        metrics.failed(Api.GRPC_UNARY, TsoError.INVALID_ARGUMENT, System.nanoTime() - arrived);
        end(resp, TsoError.INVALID_ARGUMENT, in.error());
        return;
      }
      GetTimestampsRequest msg = in.message();
      int count = count(msg);
      if (count < 0) {
        state[1] = true;
        metrics.failed(Api.GRPC_UNARY, TsoError.INVALID_ARGUMENT, System.nanoTime() - arrived);
        end(resp, TsoError.INVALID_ARGUMENT, countMessage(msg));
        return;
      }
      service.submit(new TsoRequest(count, Vertx.currentContext(), r -> {
        if (r.ok()) {
          metrics.ok(Api.GRPC_UNARY, System.nanoTime() - arrived);
        } else {
          metrics.failed(Api.GRPC_UNARY, r.error(), System.nanoTime() - arrived);
        }
        if (state[1]) {
          return;
        }
        state[1] = true;
        if (r.ok()) {
          resp.end(range(r));
        } else {
          end(resp, r.error(), r.message());
        }
      }));
    });
  }

  private void stream(GrpcServerRequest<Lenient<GetTimestampsRequest>, TimestampRange> req) {
    new StreamCall(req).start();
  }

  /**
   * The member is stopping: every stream ends once the answers it is owed have left, with
   * UNAVAILABLE (and the leader's address when known), and a new one ends at once. A client's
   * stream otherwise stays open as long as its connection: the stopping member would wait its
   * whole shutdown grace for it, and the client would be served through a member on its way out
   * (forwarded, once the member has resigned). The client sends what was unanswered again
   * elsewhere. On the API's event loop.
   */
  public void closeStreams() {
    closing = true;
    for (StreamCall call : new java.util.ArrayList<>(open)) {
      call.close();
    }
  }

  /**
   * One StreamTimestamps call: answers strictly in request order, at most {@code streamWindow}
   * outstanding. Answers can come back out of order (one request served inline on the
   * allocator's loop while an earlier one waited for a bound extension and is handed back by a
   * task), so each waits in {@link #inOrder} until every earlier one has left. The first error
   * ends the call at once, with the answers still waiting unsent.
   */
  private final class StreamCall {
    private final GrpcServerRequest<Lenient<GetTimestampsRequest>, TimestampRange> req;
    private final GrpcServerResponse<Lenient<GetTimestampsRequest>, TimestampRange> resp;
    private final Context context = Vertx.currentContext();
    private final ArrayDeque<Pending> inOrder = new ArrayDeque<>();
    private int outstanding;
    private boolean inputEnded;
    private boolean paused;
    private boolean done;
    /** Ending: requests still arriving are not taken, the call ends when nothing is owed. */
    private boolean stopping;

    StreamCall(GrpcServerRequest<Lenient<GetTimestampsRequest>, TimestampRange> req) {
      this.req = req;
      this.resp = req.response();
    }

    void start() {
      if (closing) {
        done = true;
        end(resp, TsoError.UNAVAILABLE, STOPPING);
        return;
      }
      open.add(this);
      req.invalidMessageHandler(e -> finish(TsoError.INVALID_ARGUMENT, "malformed request message"));
      req.exceptionHandler(e -> ended());
      req.errorHandler(e -> ended()); // cancelled by the client
      resp.drainHandler(v -> maybeResume());
      req.endHandler(v -> {
        inputEnded = true;
        if (outstanding == 0 && !done) {
          ended();
          resp.end();
        }
      });
      req.handler(this::onRequest);
    }

    private void ended() {
      done = true;
      open.remove(this);
    }

    /** Ends the call once nothing is owed (see {@link #closeStreams}). */
    void close() {
      stopping = true;
      if (outstanding == 0) {
        finish(TsoError.UNAVAILABLE, STOPPING);
      }
    }

    private void onRequest(Lenient<GetTimestampsRequest> in) {
      if (done) {
        return;
      }
      if (stopping) {
        return; // not taken: the call ends with UNAVAILABLE once the earlier ones are answered, and the client sends it again
      }
      if (!in.ok()) {
        metrics.failed(Api.GRPC_STREAM, TsoError.INVALID_ARGUMENT, 0);
        finish(TsoError.INVALID_ARGUMENT, in.error());
        return;
      }
      GetTimestampsRequest msg = in.message();
      long arrived = System.nanoTime();
      int count = count(msg);
      if (count < 0) {
        metrics.failed(Api.GRPC_STREAM, TsoError.INVALID_ARGUMENT, 0);
        finish(TsoError.INVALID_ARGUMENT, countMessage(msg));
        return;
      }
      outstanding++;
      if (outstanding >= streamWindow && !paused) {
        paused = true;
        req.pause();
      }
      Pending p = new Pending();
      inOrder.addLast(p);
      service.submit(new TsoRequest(count, context, r -> onAnswer(p, r, arrived)));
    }

    private void onAnswer(Pending p, TsoRequest r, long arrived) {
      if (r.ok()) {
        metrics.ok(Api.GRPC_STREAM, System.nanoTime() - arrived);
      } else {
        metrics.failed(Api.GRPC_STREAM, r.error(), System.nanoTime() - arrived);
      }
      if (done) {
        return;
      }
      if (!r.ok()) {
        // The call ends with its first error, at once, as before: the answers still waiting are
        // not sent (the client retries those requests), so none can leave out of order.
        finish(r.error(), r.message());
        return;
      }
      p.answer = r;
      Pending head;
      while ((head = inOrder.peekFirst()) != null && head.answer != null) {
        inOrder.pollFirst();
        outstanding--;
        resp.write(range(head.answer));
      }
      if (inputEnded && outstanding == 0) {
        ended();
        resp.end();
        return;
      }
      if (stopping && outstanding == 0) {
        finish(TsoError.UNAVAILABLE, STOPPING);
        return;
      }
      maybeResume();
    }

    private void maybeResume() {
      if (paused && !done && outstanding <= streamWindow / 2 && !resp.writeQueueFull()) {
        paused = false;
        req.resume();
      }
    }

    private void finish(TsoError error, String message) {
      if (!done) {
        ended();
        end(resp, error, message);
      }
      if (paused) {
        // Read (and drop) what the client still sends: a paused request holds its bytes against
        // the connection's HTTP/2 flow-control window, and enough such calls would stall every
        // other call on the connection.
        paused = false;
        req.resume();
      }
    }
  }

  static final String STOPPING = "this member is stopping; retry on the leader";

  /** A stream's request, in arrival order, and its answer once it came. */
  private static final class Pending {
    TsoRequest answer;
  }

  private void leader(GrpcServerRequest<Lenient<GetLeaderRequest>, LeaderInfo> req) {
    boolean[] over = {false};
    req.invalidMessageHandler(e -> {
      over[0] = true;
      end(req.response(), TsoError.INVALID_ARGUMENT, "malformed request message");
    });
    req.handler(in -> {
      if (over[0]) {
        return;
      }
      over[0] = true;
      if (!in.ok()) {
        end(req.response(), TsoError.INVALID_ARGUMENT, in.error());
        return;
      }
      LeaderInfo.Builder info = LeaderInfo.newBuilder()
          .setRole(view.role())
          .setNodeId(view.nodeId())
          .setEpoch(view.epoch());
      NodeView.Member leader = view.leader();
      if (leader != null) {
        info.setLeader(Member.newBuilder().setNodeId(leader.nodeId()).setAddress(leader.address())
            .setEpoch(leader.epoch()));
      }
      req.response().end(info.build());
    });
  }

  static TimestampRange range(TsoRequest r) {
    return TimestampRange.newBuilder().setTimestamp(r.first()).setCount(r.count()).setEpoch(r.epoch()).build();
  }

  /** Ends a call with an error status; UNAVAILABLE carries the leader's address when known. */
  private void end(GrpcServerResponse<?, ?> resp, TsoError error, String message) {
    String leader = leaderFor(view, error);
    if (leader != null) {
      resp.trailers().set(LEADER_TRAILER, leader);
    }
    resp.status(status(error)).statusMessage(message).end();
  }

  /** The address for the {@value #LEADER_TRAILER} trailer: the leader's when known, on errors that send the caller there. */
  static String leaderFor(NodeView view, TsoError error) {
    if (error == TsoError.NOT_LEADER || error == TsoError.UNAVAILABLE) {
      NodeView.Member leader = view.leader();
      if (leader != null && !leader.nodeId().equals(view.nodeId())) {
        return leader.address();
      }
    }
    return null;
  }

  /** The contract's gRPC status for each error. */
  static GrpcStatus status(TsoError error) {
    return switch (error) {
      case INVALID_ARGUMENT -> GrpcStatus.INVALID_ARGUMENT;
      case RESOURCE_EXHAUSTED -> GrpcStatus.RESOURCE_EXHAUSTED;
      case NOT_LEADER, UNAVAILABLE -> GrpcStatus.UNAVAILABLE;
    };
  }
}
