package tso.api.grpc;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

import tso.core.NodeView;
import tso.core.TimestampSink;
import tso.core.TsoError;
import tso.core.TsoRequest;
import tso.metrics.TsoMetrics.Api;
import tso.metrics.TsoMetrics;
import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampRange;

/**
 * Unary {@code GetTimestamps} answered on the HTTP/2 stream itself, without the generic gRPC
 * server in between. That server wraps every call in its own request, response, deframer and
 * message queues; for a call whose whole work is a few bytes each way, they cost about a tenth
 * of the server's user CPU at 30,000 calls/s (median of 9 paired runs against the same build with
 * this path off; the rest of its CPU is mostly the kernel's). Only the common form of the call
 * comes here ({@link #takes}): HTTP/2, {@code application/grpc} or {@code application/grpc+proto},
 * no message compression.
 * Everything else (gzip, gRPC-Web, HTTP/1.1, every other method) goes to the gRPC server and
 * {@link GrpcApi}, which answer with the same statuses.
 *
 * <p>The call must carry exactly one uncompressed message of at most {@code maxMessageBytes};
 * anything else is INVALID_ARGUMENT, never INTERNAL. Errors go out as a trailers-only response
 * (one HEADERS frame), as gRPC does.
 */
public final class DirectUnary {

  private static final CharSequence CONTENT_TYPE = HttpHeaders.CONTENT_TYPE;
  private static final CharSequence GRPC = HttpHeaders.createOptimized("application/grpc");
  private static final CharSequence ACCEPT_ENCODING = HttpHeaders.createOptimized("grpc-accept-encoding");
  private static final CharSequence GZIP = HttpHeaders.createOptimized("gzip");
  private static final CharSequence GRPC_STATUS = HttpHeaders.createOptimized("grpc-status");
  private static final CharSequence GRPC_MESSAGE = HttpHeaders.createOptimized("grpc-message");
  private static final CharSequence LEADER = HttpHeaders.createOptimized(GrpcApi.LEADER_TRAILER);
  private static final CharSequence OK = HttpHeaders.createOptimized("0");
  private static final String MALFORMED = "malformed request message";

  private final TimestampSink service;
  private final NodeView view;
  private final TsoMetrics metrics;
  private final int maxCount;
  private final int maxMessageBytes;

  public DirectUnary(TimestampSink service, NodeView view, TsoMetrics metrics, int maxCount, int maxMessageBytes) {
    this.service = service;
    this.view = view;
    this.metrics = metrics;
    this.maxCount = maxCount;
    this.maxMessageBytes = maxMessageBytes;
  }

  /** Whether a call, already routed here by its path, is in the form answered here rather than by the gRPC server. */
  public static boolean takes(HttpServerRequest req) {
    if (req.version() != HttpVersion.HTTP_2) {
      return false;
    }
    String type = req.getHeader(CONTENT_TYPE);
    if (!"application/grpc".equalsIgnoreCase(type) && !"application/grpc+proto".equalsIgnoreCase(type)) {
      return false;
    }
    String encoding = req.getHeader("grpc-encoding");
    return encoding == null || "identity".equalsIgnoreCase(encoding);
  }

  /** Serves one call; {@link #takes} said yes. */
  public void handle(HttpServerRequest req) {
    new Call(req).start();
  }

  private final class Call {
    private final HttpServerRequest req;
    private final long arrived = System.nanoTime();
    private Buffer body;
    /** Answered, or cancelled by the client: nothing more is written. */
    private boolean over;

    Call(HttpServerRequest req) {
      this.req = req;
    }

    void start() {
      // The client reset the stream before it finished sending, or the connection broke. A reset
      // after the request ended reaches no handler: the answer checks resp.closed() instead.
      req.exceptionHandler(e -> over = true);
      req.handler(this::onData);
      req.endHandler(v -> onEnd());
    }

    private void onData(Buffer chunk) {
      if (over) {
        return;
      }
      // each chunk is the stream's own heap copy: grow the first in place, never copy all so far
      // again per chunk (one byte per DATA frame would make that quadratic)
      body = body == null ? chunk : body.appendBuffer(chunk);
      if (body.length() > 5 + maxMessageBytes) {
        fail(TsoError.INVALID_ARGUMENT, MALFORMED); // the rest is read and dropped
      }
    }

    private void onEnd() {
      if (over) {
        return;
      }
      Buffer b = body;
      if (b == null || b.length() == 0) {
        fail(TsoError.INVALID_ARGUMENT, "a unary call carries one request message; none came");
        return;
      }
      if (b.length() < 5 || b.getByte(0) != 0) {
        fail(TsoError.INVALID_ARGUMENT, b.length() < 5 ? MALFORMED : "compressed message without grpc-encoding");
        return;
      }
      long length = b.getUnsignedInt(1);
      if (length > maxMessageBytes || 5 + length > b.length()) {
        fail(TsoError.INVALID_ARGUMENT, MALFORMED);
        return;
      }
      if (5 + length < b.length()) {
        fail(TsoError.INVALID_ARGUMENT, "a unary call carries one request message; more came");
        return;
      }
      GetTimestampsRequest msg;
      try {
        msg = GetTimestampsRequest.parseFrom(b.getBytes(5, b.length()));
      } catch (InvalidProtocolBufferException e) {
        fail(TsoError.INVALID_ARGUMENT, MALFORMED);
        return;
      }
      int count = GrpcApi.count(msg, maxCount);
      if (count < 0) {
        fail(TsoError.INVALID_ARGUMENT, GrpcApi.countMessage(msg, maxCount));
        return;
      }
      service.submit(new TsoRequest(count, Vertx.currentContext(), this::onAnswer));
    }

    private void onAnswer(TsoRequest r) {
      if (!r.ok()) {
        fail(r.error(), r.message());
        return;
      }
      metrics.ok(Api.GRPC_UNARY, System.nanoTime() - arrived);
      HttpServerResponse resp = req.response();
      if (over || resp.closed()) {
        return;
      }
      over = true;
      resp.putHeader(CONTENT_TYPE, GRPC).putHeader(ACCEPT_ENCODING, GZIP).putTrailer(GRPC_STATUS, OK);
      // write, then end: the headers go out with the message and no content-length, as the gRPC
      // server sends them (end(message) would add one)
      resp.write(message(r));
      resp.end();
    }

    /** Ends the call with an error status: a trailers-only response. */
    private void fail(TsoError error, String message) {
      metrics.failed(Api.GRPC_UNARY, error, System.nanoTime() - arrived);
      HttpServerResponse resp = req.response();
      if (over || resp.closed()) {
        return;
      }
      over = true;
      resp.putHeader(CONTENT_TYPE, GRPC)
          .putHeader(GRPC_STATUS, Integer.toString(GrpcApi.status(error).code))
          .putHeader(GRPC_MESSAGE, percentEncode(message));
      String leader = GrpcApi.leaderFor(view, error);
      if (leader != null) {
        resp.putHeader(LEADER, leader);
      }
      resp.end();
    }
  }

  /** The answer as one length-prefixed gRPC message. */
  static Buffer message(TsoRequest r) {
    TimestampRange range = GrpcApi.range(r);
    int size = range.getSerializedSize();
    byte[] out = new byte[5 + size];
    out[1] = (byte) (size >>> 24);
    out[2] = (byte) (size >>> 16);
    out[3] = (byte) (size >>> 8);
    out[4] = (byte) size;
    try {
      range.writeTo(CodedOutputStream.newInstance(out, 5, size));
    } catch (IOException e) {
      throw new IllegalStateException(e); // a sized array cannot run out
    }
    return Buffer.buffer(out);
  }

  /** {@code grpc-message} is percent-encoded UTF-8 (the gRPC HTTP/2 protocol): all but printable ASCII other than '%'. */
  static String percentEncode(String message) {
    byte[] bytes = message.getBytes(StandardCharsets.UTF_8);
    StringBuilder b = new StringBuilder(bytes.length);
    for (byte x : bytes) {
      int c = x & 0xff;
      if (c >= 0x20 && c <= 0x7e && c != '%') {
        b.append((char) c);
      } else {
        b.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
            .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
      }
    }
    return b.toString();
  }
}
