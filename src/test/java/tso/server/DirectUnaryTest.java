package tso.server;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Setting;
import tso.metrics.TsoMetrics;
import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampRange;
import tso.service.TimestampService;
import tso.service.TimestampServiceTest;
import tso.store.StoredBound;

/**
 * Unary {@code GetTimestamps} as {@link tso.api.grpc.DirectUnary} answers it on the stream, next
 * to the same call taken by the gRPC server (a call that names a message encoding goes there): the
 * same answers and the same statuses, bad calls INVALID_ARGUMENT, a call the client cancels while
 * it waits dropped without harm to the connection.
 */
@Timeout(value = 60, unit = SECONDS)
class DirectUnaryTest {

  private static final long T0 = 1_700_000_000_000L;
  private static final String PATH = "/tso.v1.TimestampOracle/GetTimestamps";

  @TempDir
  Path dir;
  private Vertx vertx;
  private final AtomicLong clock = new AtomicLong(T0);
  private final TimestampServiceTest.FakeStore store = new TimestampServiceTest.FakeStore(StoredBound.NONE);
  private TimestampService service;
  private HttpClientAgent client;
  private int port;
  /** What escaped a handler on the server's loops: none may. */
  private final List<Throwable> unhandled = new CopyOnWriteArrayList<>();

  @AfterEach
  void close() throws Exception {
    if (vertx != null) {
      get(vertx.close());
    }
  }

  private void start() throws Exception {
    start(false);
  }

  private void start(boolean noop) throws Exception {
    vertx = Vertx.vertx();
    vertx.exceptionHandler(unhandled::add);
    service = new TimestampService(new TimestampService.Settings(3000, 64, 30_000, 10), store, clock::get,
        new TsoMetrics());
    get(vertx.deployVerticle(service));
    port = ApiOver.deploy(vertx, service, dir, Map.of(Setting.NOOP_ENDPOINT, Boolean.toString(noop)));
    client = vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false));
  }

  /** The status, the headers and trailers together, and the body of one call. */
  private record Answer(int http, MultiMap headers, MultiMap trailers, Buffer body) {
    String status() {
      String s = trailers.get("grpc-status");
      return s != null ? s : headers.get("grpc-status");
    }

    TimestampRange range() throws Exception {
      assertThat(body.length()).isGreaterThan(5);
      assertThat(body.getUnsignedInt(1)).isEqualTo(body.length() - 5);
      return TimestampRange.parseFrom(body.getBytes(5, body.length()));
    }
  }

  private Answer call(Buffer body, String encoding) throws Exception {
    return call(PATH, body, encoding);
  }

  private Answer call(String path, Buffer body, String encoding) throws Exception {
    Future<Answer> f = client.request(HttpMethod.POST, port, "127.0.0.1", path).compose(req -> {
      req.putHeader("content-type", "application/grpc").putHeader("te", "trailers");
      if (encoding != null) {
        req.putHeader("grpc-encoding", encoding);
      }
      return req.send(body).compose(resp -> resp.body().map(b -> new Answer(resp.statusCode(), resp.headers(),
          resp.trailers(), b)));
    });
    return get(f);
  }

  private static Buffer framed(int flag, byte[] message) {
    return Buffer.buffer().appendByte((byte) flag).appendInt(message.length).appendBytes(message);
  }

  private static byte[] request(int count) {
    return GetTimestampsRequest.newBuilder().setCount(count).build().toByteArray();
  }

  @Test
  void answersTheSameAsTheGrpcServerDoes() throws Exception {
    start();
    Answer direct = call(framed(0, request(5)), null);
    // Naming an encoding (the message itself is not compressed) sends the call to the gRPC server;
    // the answer must not tell the two apart.
    Answer server = call(framed(0, request(5)), "gzip");
    assertThat(direct.headers().names()).as("headers").isEqualTo(server.headers().names());
    assertThat(direct.trailers().names()).as("trailers").isEqualTo(server.trailers().names());
    for (Answer a : new Answer[] {direct, server}) {
      assertThat(a.http()).isEqualTo(200);
      assertThat(a.headers().get("content-type")).isEqualTo("application/grpc");
      assertThat(a.status()).isEqualTo("0");
      assertThat(a.range().getCount()).isEqualTo(5);
      assertThat(a.range().getEpoch()).isEqualTo(service.epoch());
    }
    assertThat(server.range().getTimestamp()).isGreaterThanOrEqualTo(direct.range().getTimestamp() + 5);
    // count 0 means 1, as on every other path
    assertThat(call(framed(0, new byte[0]), null).range().getCount()).isEqualTo(1);
  }

  @Test
  void badCallsAreInvalidArgumentOnBothPaths() throws Exception {
    start();
    byte[] one = request(1);
    Map<String, Buffer> bad = new LinkedHashMap<>();
    bad.put("no message", Buffer.buffer());
    bad.put("a cut prefix", Buffer.buffer(new byte[] {0, 0, 0}));
    bad.put("compressed without an encoding", framed(1, one));
    bad.put("a length past the body", Buffer.buffer().appendByte((byte) 0).appendInt(50).appendBytes(one));
    bad.put("a length past the limit", Buffer.buffer().appendByte((byte) 0).appendInt(1 << 30));
    bad.put("a body past the limit", framed(0, new byte[ApiVerticle.MAX_GRPC_MESSAGE_BYTES + 1]));
    bad.put("two messages", framed(0, one).appendBuffer(framed(0, one)));
    bad.put("malformed protobuf", framed(0, new byte[] {(byte) 0x08, (byte) 0xff, (byte) 0xff}));
    bad.put("count too large", framed(0, request(Integer.MAX_VALUE)));
    for (Map.Entry<String, Buffer> e : bad.entrySet()) {
      Answer a = call(e.getValue(), null);
      assertThat(a.http()).as(e.getKey()).isEqualTo(200);
      assertThat(a.headers().get("grpc-status")).as(e.getKey() + ": trailers only").isEqualTo("3"); // INVALID_ARGUMENT
      assertThat(a.headers().get("grpc-message")).as(e.getKey()).isNotBlank();
      assertThat(a.body().length()).as(e.getKey() + ": trailers only").isZero();
    }
    // The gRPC server leaves a call without a message unanswered; this answer is the direct path's.
    assertThat(call(bad.get("no message"), null).headers().get("grpc-message")).contains("none came");
    for (String key : new String[] {"malformed protobuf", "count too large"}) {
      assertThat(call(bad.get(key), "gzip").status()).as(key + ", gRPC server").isEqualTo("3");
    }
    assertThat(call(framed(0, one), null).status()).as("served after all that").isEqualTo("0");
  }

  @Test
  void aMessageSplitOverManyDataFramesIsServed() throws Exception {
    start();
    Buffer body = framed(0, request(7));
    HttpClientRequest req = get(client.request(HttpMethod.POST, port, "127.0.0.1", PATH));
    req.putHeader("content-type", "application/grpc").setChunked(true);
    for (int i = 0; i < body.length() - 1; i++) {
      req.write(body.slice(i, i + 1)); // one byte per DATA frame
    }
    Future<Answer> f = req.response().compose(resp -> resp.body().map(b -> new Answer(resp.statusCode(),
        resp.headers(), resp.trailers(), b)));
    req.end(body.slice(body.length() - 1, body.length()));
    Answer a = get(f);
    assertThat(a.status()).isEqualTo("0");
    assertThat(a.range().getCount()).isEqualTo(7);
  }

  @Test
  void theNoopEndpointTakesTheDirectPathOnlyWhileItIsOpen() throws Exception {
    String noop = "/tso.v1.Noop/GetTimestamps";
    start(false);
    assertThat(call(noop, framed(0, request(1)), null).headers().get("grpc-status")).as("closed").isEqualTo("12");
    close();
    start(true);
    Answer open = call(noop, framed(0, request(3)), null);
    assertThat(open.status()).isEqualTo("0");
    assertThat(open.range().getCount()).isEqualTo(3);
    assertThat(call(noop, Buffer.buffer(), null).headers().get("grpc-message")).as("the direct path").contains("none came");
  }

  @Test
  void aCallCancelledWhileItWaitsIsDroppedAndTheConnectionServesOn() throws Exception {
    start();
    store.mode(TimestampServiceTest.Mode.HOLD);
    clock.set(T0 + 5000); // past the bound: requests wait for the held extension
    HttpClientRequest req = get(client.request(HttpMethod.POST, port, "127.0.0.1", PATH));
    req.putHeader("content-type", "application/grpc");
    Future<HttpClientResponse> answer = req.send(framed(0, request(1)));
    await().atMost(Duration.ofSeconds(10)).until(() -> service.queueDepth() == 1);
    get(req.reset());
    store.completeHeld();
    await().atMost(Duration.ofSeconds(10)).until(() -> service.queueDepth() == 0);
    store.mode(TimestampServiceTest.Mode.IMMEDIATE);
    assertThat(answer.failed() || !answer.isComplete()).as("the cancelled call got no answer").isTrue();
    Answer next = call(framed(0, request(2)), null);
    assertThat(next.status()).isEqualTo("0");
    assertThat(next.range().getCount()).isEqualTo(2);
    assertThat(unhandled).as("nothing written to the reset stream").isEmpty();
  }

  private static <T> T get(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(20, SECONDS);
  }
}
