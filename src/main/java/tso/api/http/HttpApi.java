package tso.api.http;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.json.JsonObject;

import tso.alloc.TimestampAllocator;
import tso.core.NodeView;
import tso.core.TimestampSink;
import tso.core.TsoError;
import tso.core.TsoRequest;
import tso.metrics.TsoMetrics.Api;
import tso.metrics.TsoMetrics;

/**
 * The HTTP/JSON API of the contract. It only translates: it validates the request, hands it to
 * the {@link TimestampSink} (the allocator, or a router in front of it) and writes the answer. Bad input gets a 4xx with a JSON error,
 * never a 500 or a stack trace.
 */
public final class HttpApi {

  /** A valid body is a few dozen bytes; anything past this is refused with 413 unread. */
  public static final int MAX_BODY_BYTES = 4096;
  /** How much of an oversize body is read and dropped before the 413; past it the connection is closed. */
  static final long MAX_DISCARD_BYTES = 16L << 20;

  private static final CharSequence JSON = HttpHeaders.createOptimized("application/json");
  private static final CharSequence TEXT = HttpHeaders.createOptimized("text/plain; charset=utf-8");
  private static final CharSequence PROMETHEUS =
      HttpHeaders.createOptimized("text/plain; version=0.0.4; charset=utf-8");
  private static final CharSequence RETRY_AFTER = HttpHeaders.createOptimized("Retry-After");
  private static final CharSequence ONE = HttpHeaders.createOptimized("1");

  private final TimestampSink service;
  private final NodeView view;
  private final TsoMetrics metrics;
  private final int maxCount;
  private final TimestampSink noop;
  private final TsoMetrics noopMetrics;
  private final java.util.function.Predicate<io.vertx.core.http.HttpConnection> noopOpen;

  public HttpApi(TimestampSink service, NodeView view, TsoMetrics metrics, int maxCount) {
    this(service, view, metrics, maxCount, null, null, conn -> false);
  }

  /**
   * @param noop        when not null, {@code POST /v1/noop} is served through it: the same
   *                    parsing and encoding as {@code /v1/timestamps}, for benchmarks
   * @param noopMetrics where the no-op requests are recorded (kept out of the served metrics)
   * @param noopOpen    whether it is served now on a connection (configured, or the start-up
   *                    warm-up runs and the connection comes from this host)
   */
  public HttpApi(TimestampSink service, NodeView view, TsoMetrics metrics, int maxCount, TimestampSink noop,
      TsoMetrics noopMetrics, java.util.function.Predicate<io.vertx.core.http.HttpConnection> noopOpen) {
    this.service = service;
    this.view = view;
    this.metrics = metrics;
    this.maxCount = maxCount;
    this.noop = noop;
    this.noopMetrics = noopMetrics;
    this.noopOpen = noopOpen;
  }

  /**
   * The probe port (TSO_HEALTH_PORT): {@code /health/live} and {@code /health/ready} only, plain
   * HTTP, for a kubelet that cannot present a client certificate; everything else is 404.
   */
  public void handleProbe(HttpServerRequest req) {
    String path = req.path();
    if (path.equals("/health/live") || path.equals("/health/ready")) {
      handle(req);
    } else {
      error(req.response(), 404, "NOT_FOUND", "this port serves /health/live and /health/ready only", false);
    }
  }

  /** Routes one request; every path and method of the contract, 404 and 405 for the rest. */
  public void handle(HttpServerRequest req) {
    String path = req.path();
    HttpMethod method = req.method();
    switch (path) {
      case "/v1/timestamps" -> {
        if (method == HttpMethod.POST) {
          timestamps(req, service, metrics);
        } else {
          methodNotAllowed(req, "POST");
        }
      }
      case "/v1/noop" -> {
        if (noop == null || !noopOpen.test(req.connection())) {
          error(req.response(), 404, "NOT_FOUND", "no such path: /v1/noop (TSO_NOOP_ENDPOINT is off)", false);
        } else if (method == HttpMethod.POST) {
          timestamps(req, noop, noopMetrics);
        } else {
          methodNotAllowed(req, "POST");
        }
      }
      case "/v1/leader" -> {
        if (isGet(method)) {
          leader(req);
        } else {
          methodNotAllowed(req, "GET, HEAD");
        }
      }
      case "/health/live" -> {
        if (isGet(method)) {
          req.response().putHeader(HttpHeaders.CONTENT_TYPE, TEXT).end("ok\n");
        } else {
          methodNotAllowed(req, "GET, HEAD");
        }
      }
      case "/health/ready" -> {
        if (!isGet(method)) {
          methodNotAllowed(req, "GET, HEAD");
        } else if (view.ready()) {
          req.response().putHeader(HttpHeaders.CONTENT_TYPE, TEXT).end("ready\n");
        } else {
          req.response().setStatusCode(503).putHeader(RETRY_AFTER, ONE).putHeader(HttpHeaders.CONTENT_TYPE, TEXT)
              .end("not ready\n");
        }
      }
      case "/metrics" -> {
        if (isGet(method)) {
          // Rendering every histogram takes a few milliseconds: not on the event loop.
          HttpServerResponse resp = req.response();
          Vertx.currentContext().owner().executeBlocking(metrics::scrape, false).onComplete(ar -> {
            if (ar.succeeded()) {
              resp.putHeader(HttpHeaders.CONTENT_TYPE, PROMETHEUS).end(ar.result());
            } else {
              error(resp, 503, "UNAVAILABLE", "metrics could not be rendered", true);
            }
          });
        } else {
          methodNotAllowed(req, "GET, HEAD");
        }
      }
      default -> error(req.response(), 404, "NOT_FOUND", "no such path: " + truncate(path), false);
    }
  }

  private static boolean isGet(HttpMethod m) {
    return m == HttpMethod.GET || m == HttpMethod.HEAD;
  }

  private void timestamps(HttpServerRequest req, TimestampSink sink, TsoMetrics metrics) {
    long arrived = System.nanoTime();
    String length = req.getHeader(HttpHeaders.CONTENT_LENGTH);
    if ("0".equals(length)) {
      submit(req, 1, arrived, sink, metrics);
      return;
    }
    if (length != null) {
      long n;
      try {
        n = Long.parseLong(length);
      } catch (NumberFormatException e) {
        n = Long.MAX_VALUE;
      }
      if (n > MAX_BODY_BYTES) {
        tooLarge(req);
        return;
      }
    }
    Buffer body = Buffer.buffer(64);
    boolean[] refused = {false};
    req.handler(chunk -> {
      if (refused[0]) {
        return;
      }
      if (body.length() + chunk.length() > MAX_BODY_BYTES) {
        refused[0] = true;
        tooLarge(req);
        return;
      }
      body.appendBuffer(chunk);
    });
    req.endHandler(v -> {
      if (refused[0]) {
        return;
      }
      int count;
      try {
        count = parseCount(body, req.getHeader(HttpHeaders.CONTENT_TYPE), maxCount);
      } catch (BadRequest e) {
        metrics.failed(Api.HTTP, TsoError.INVALID_ARGUMENT, System.nanoTime() - arrived);
        error(req.response(), e.status, e.code, e.getMessage(), false);
        return;
      }
      submit(req, count, arrived, sink, metrics);
    });
  }

  private void submit(HttpServerRequest req, int count, long arrived, TimestampSink sink, TsoMetrics metrics) {
    HttpServerResponse resp = req.response();
    sink.submit(new TsoRequest(count, Vertx.currentContext(), r -> {
      if (r.ok()) {
        metrics.ok(Api.HTTP, System.nanoTime() - arrived);
        if (!resp.ended() && !resp.closed()) {
          resp.putHeader(HttpHeaders.CONTENT_TYPE, JSON).end(rangeJson(r.first(), r.count(), r.epoch()));
        }
      } else {
        metrics.failed(Api.HTTP, r.error(), System.nanoTime() - arrived);
        if (!resp.ended() && !resp.closed()) {
          error(resp, r.error().httpStatus, r.error().name(), r.message(), r.error().retryable);
        }
      }
    }));
  }

  /** The contract's success body; 64-bit values as decimal strings. */
  static String rangeJson(long first, int count, long epoch) {
    return new StringBuilder(128)
        .append("{\"timestamp\":\"").append(Long.toUnsignedString(first))
        .append("\",\"count\":").append(count)
        .append(",\"epoch\":\"").append(Long.toUnsignedString(epoch))
        .append("\",\"physicalMs\":").append(TimestampAllocator.physicalOf(first))
        .append(",\"logical\":").append(TimestampAllocator.logicalOf(first))
        .append('}').toString();
  }

  /**
   * Reads {@code {"count": N}}: an empty body means 1; N is an integer (or a decimal string, as
   * the proto3 JSON mapping allows) from 1 to {@code max}; no other field is accepted.
   */
  static int parseCount(Buffer body, String contentType, int max) {
    if (isBlank(body)) {
      return 1;
    }
    if (contentType != null && !isJson(contentType)) {
      throw new BadRequest(415, "UNSUPPORTED_MEDIA_TYPE", "content-type must be application/json");
    }
    Object parsed;
    try {
      parsed = io.vertx.core.json.Json.decodeValue(body);
    } catch (RuntimeException e) {
      throw new BadRequest(400, "INVALID_ARGUMENT", "body is not valid JSON");
    }
    if (!(parsed instanceof JsonObject obj)) {
      throw new BadRequest(400, "INVALID_ARGUMENT", "body must be a JSON object such as {\"count\": 1}");
    }
    for (String field : obj.fieldNames()) {
      if (!"count".equals(field)) {
        throw new BadRequest(400, "INVALID_ARGUMENT", "unknown field: " + truncate(field));
      }
    }
    Object value = obj.getValue("count");
    long count;
    if (value == null) {
      count = 1;
    } else if (value instanceof Integer || value instanceof Long) {
      count = ((Number) value).longValue();
    } else if (value instanceof String s && s.matches("-?\\d{1,18}")) {
      count = Long.parseLong(s);
    } else if (value instanceof Number) {
      throw new BadRequest(400, "INVALID_ARGUMENT", "count must be an integer from 1 to " + max);
    } else {
      throw new BadRequest(400, "INVALID_ARGUMENT", "count must be an integer from 1 to " + max);
    }
    if (count < 1 || count > max) {
      throw new BadRequest(400, "INVALID_ARGUMENT", "count must be an integer from 1 to " + max);
    }
    return (int) count;
  }

  private static boolean isBlank(Buffer body) {
    for (int i = 0, n = body.length(); i < n; i++) {
      byte b = body.getByte(i);
      if (b != ' ' && b != '\n' && b != '\r' && b != '\t') {
        return false;
      }
    }
    return true;
  }

  private static boolean isJson(String contentType) {
    int semi = contentType.indexOf(';');
    String type = (semi < 0 ? contentType : contentType.substring(0, semi)).trim();
    return type.equalsIgnoreCase("application/json");
  }

  private void leader(HttpServerRequest req) {
    JsonObject out = new JsonObject()
        .put("role", view.role())
        .put("nodeId", view.nodeId())
        .put("epoch", Long.toUnsignedString(view.epoch()));
    NodeView.Member leader = view.leader();
    out.put("leader", leader == null ? null : new JsonObject()
        .put("nodeId", leader.nodeId())
        .put("address", leader.address())
        .put("epoch", Long.toUnsignedString(leader.epoch())));
    req.response().putHeader(HttpHeaders.CONTENT_TYPE, JSON).end(out.encode());
  }

  /**
   * Refuses an oversize body with 413. Over HTTP/1.1 the answer goes out once the body is in (read
   * and dropped, up to a bound) and the connection closes after it: a client still sending would
   * otherwise lose the answer, or the connection. A client that asked to {@code Expect:
   * 100-continue} is answered at once, since it has not sent the body.
   */
  private void tooLarge(HttpServerRequest req) {
    metrics.failed(Api.HTTP, TsoError.INVALID_ARGUMENT, 0);
    HttpServerResponse resp = req.response();
    String message = "body larger than " + MAX_BODY_BYTES + " bytes";
    if (req.version() == HttpVersion.HTTP_2) {
      error(resp, 413, "PAYLOAD_TOO_LARGE", message, false);
      return;
    }
    resp.putHeader(HttpHeaders.CONNECTION, HttpHeaders.CLOSE);
    if ("100-continue".equalsIgnoreCase(req.getHeader(HttpHeaders.EXPECT)) || req.isEnded()) {
      error(resp, 413, "PAYLOAD_TOO_LARGE", message, false);
      return;
    }
    long[] dropped = {0};
    req.handler(chunk -> {
      dropped[0] += chunk.length();
      if (dropped[0] > MAX_DISCARD_BYTES && !resp.ended()) {
        error(resp, 413, "PAYLOAD_TOO_LARGE", message, false);
        req.connection().close();
      }
    });
    req.endHandler(v -> error(resp, 413, "PAYLOAD_TOO_LARGE", message, false));
  }

  private void methodNotAllowed(HttpServerRequest req, String allow) {
    req.response().putHeader(HttpHeaders.ALLOW, allow);
    error(req.response(), 405, "METHOD_NOT_ALLOWED", req.method().name() + " is not allowed on " + req.path(), false);
  }

  /** Writes the contract's JSON error. */
  private void error(HttpServerResponse resp, int status, String code, String message, boolean retryable) {
    if (resp.ended() || resp.closed()) {
      return;
    }
    JsonObject err = new JsonObject().put("code", code).put("message", message);
    NodeView.Member leader = view.leader();
    if (leader != null && !"standalone".equals(view.role()) && !"leader".equals(view.role())) {
      err.put("leader", leader.address());
    }
    resp.setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, JSON);
    if (retryable) {
      resp.putHeader(RETRY_AFTER, ONE);
    }
    resp.end(new JsonObject().put("error", err).encode());
  }

  private static String truncate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 80) + "…";
  }

  /** A request the contract refuses with a 4xx. */
  static final class BadRequest extends RuntimeException {
    final int status;
    final String code;

    BadRequest(int status, String code, String message) {
      super(message, null, false, false);
      this.status = status;
      this.code = code;
    }
  }
}
