package tso.server;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Headers;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tso.metrics.TsoMetrics;
import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampOracleGrpcClient;
import tso.service.TimestampService;
import tso.service.TimestampServiceTest;
import tso.store.StoredBound;
import tso.support.H2Frames;
import tso.support.InProcessNode;

/**
 * The bounds as a client meets them on the wire: a full allocator queue is answered at once with
 * 429 and {@code Retry-After} over HTTP and RESOURCE_EXHAUSTED over gRPC; an HTTP/2 connection
 * may hold at most {@link ApiVerticle#MAX_CONCURRENT_STREAMS} streams, and the protocol refuses
 * the next one.
 */
@Timeout(value = 60, unit = SECONDS)
class BoundsTest {

  private static final long T0 = 1_700_000_000_000L;

  @TempDir
  Path dir;
  private Vertx vertx;

  @AfterEach
  void close() throws Exception {
    if (vertx != null) {
      get(vertx.close());
    }
  }

  @Test
  void aFullQueueIsRefusedAtOnceWith429AndRetryAfterOverHttpAndResourceExhaustedOverGrpc() throws Exception {
    vertx = Vertx.vertx();
    AtomicLong clock = new AtomicLong(T0);
    TimestampServiceTest.FakeStore store = new TimestampServiceTest.FakeStore(StoredBound.NONE);
    int limit = 4;
    TimestampService service = new TimestampService(new TimestampService.Settings(3000, limit, 30_000, 10), store,
        clock::get, new TsoMetrics());
    get(vertx.deployVerticle(service));
    int port = ApiOver.deploy(vertx, service, dir, Map.of());

    // Past the bound, with the store holding the extension: requests wait until the queue is full.
    store.mode(TimestampServiceTest.Mode.HOLD);
    clock.set(T0 + 5000);
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    HttpRequest post = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/timestamps"))
        .timeout(Duration.ofSeconds(20)).POST(HttpRequest.BodyPublishers.noBody()).build();
    List<CompletableFuture<HttpResponse<String>>> waiting = new ArrayList<>();
    for (int i = 0; i < limit; i++) {
      waiting.add(http.sendAsync(post, HttpResponse.BodyHandlers.ofString()));
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> service.queueDepth() == limit);

    long t0 = System.nanoTime();
    HttpResponse<String> refused = http.send(post, HttpResponse.BodyHandlers.ofString());
    long httpMs = (System.nanoTime() - t0) / 1_000_000;
    assertThat(refused.statusCode()).isEqualTo(429);
    assertThat(refused.headers().firstValue("Retry-After")).hasValue("1");
    assertThat(refused.body()).contains("\"code\":\"RESOURCE_EXHAUSTED\"");
    assertThat(httpMs).as("refused at once, not after the request timeout").isLessThan(2000);

    GrpcClient grpc = GrpcClient.client(vertx, new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false));
    TimestampOracleGrpcClient stub = TimestampOracleGrpcClient.create(grpc, SocketAddress.inetSocketAddress(port, "127.0.0.1"));
    t0 = System.nanoTime();
    Throwable grpcRefused = stub.getTimestamps(GetTimestampsRequest.newBuilder().setCount(1).build())
        .toCompletionStage().toCompletableFuture().handle((r, e) -> e).get(20, SECONDS);
    long grpcMs = (System.nanoTime() - t0) / 1_000_000;
    assertThat(grpcRefused).isNotNull();
    assertThat(grpcRefused.getMessage()).contains("RESOURCE_EXHAUSTED");
    assertThat(grpcMs).isLessThan(2000);
    assertThat(waiting).noneMatch(CompletableFuture::isDone);

    // The extension lands: the ones that waited are served.
    store.completeHeld();
    for (CompletableFuture<HttpResponse<String>> w : waiting) {
      assertThat(w.get(20, SECONDS).statusCode()).isEqualTo(200);
    }
  }

  @Test
  void anHttp2ConnectionHoldsAtMost1024StreamsAndTheNextIsRefused() throws Exception {
    try (InProcessNode node = new InProcessNode(dir.resolve("data"));
         Socket socket = new Socket("127.0.0.1", node.port)) {
      socket.setSoTimeout(20_000);
      OutputStream out = socket.getOutputStream();
      DataInputStream in = new DataInputStream(socket.getInputStream());
      out.write(H2Frames.PREFACE);
      H2Frames.write(out, 0x4, 0, 0, new byte[0]); // our SETTINGS: defaults
      out.flush();

      // The server's limits bind once we acknowledge its SETTINGS (RFC 9113, 6.5.3): read them
      // and acknowledge them before opening streams.
      Map<Integer, Long> settings = new TreeMap<>();
      Map<Integer, Integer> resets = new TreeMap<>();
      while (settings.isEmpty()) {
        readFrame(in, out, settings, resets);
      }
      assertThat(settings).as("SETTINGS_MAX_CONCURRENT_STREAMS").containsEntry(0x3, (long) ApiVerticle.MAX_CONCURRENT_STREAMS);

      // Streams opened with their headers and no message: each stays open, waiting for the body.
      int limit = ApiVerticle.MAX_CONCURRENT_STREAMS;
      int extra = 8;
      Http2Headers call = new DefaultHttp2Headers().method("POST").scheme("http")
          .path("/tso.v1.TimestampOracle/StreamTimestamps").authority("127.0.0.1:" + node.port)
          .add("content-type", "application/grpc").add("te", "trailers");
      DefaultHttp2HeadersEncoder hpack = new DefaultHttp2HeadersEncoder();
      ByteArrayOutputStream all = new ByteArrayOutputStream();
      for (int i = 0; i < limit + extra; i++) {
        int stream = 1 + 2 * i;
        H2Frames.write(all, 0x1, 0x4, stream, H2Frames.encode(hpack, stream, call)); // HEADERS, END_HEADERS
      }
      out.write(all.toByteArray());
      out.flush();
      while (resets.size() < extra) {
        readFrame(in, out, settings, resets);
      }
      List<Integer> refusedStreams = new ArrayList<>();
      for (int i = limit; i < limit + extra; i++) {
        refusedStreams.add(1 + 2 * i);
      }
      assertThat(resets.keySet()).as("streams reset").containsExactlyElementsOf(refusedStreams);
      assertThat(resets.values()).as("reset codes").allMatch(code -> code == 0x7); // REFUSED_STREAM
    } catch (EOFException e) {
      throw new AssertionError("the server closed the connection", e);
    }
  }

  /** Reads one frame: SETTINGS are recorded and acknowledged, RST_STREAM recorded, GOAWAY fails. */
  private static void readFrame(DataInputStream in, OutputStream out, Map<Integer, Long> settings,
      Map<Integer, Integer> resets) throws IOException {
    H2Frames.Frame f = H2Frames.read(in);
    byte[] payload = f.payload();
    if (f.type() == 0x4 && (f.flags() & 0x1) == 0) { // SETTINGS, not an ACK
      for (int p = 0; p + 6 <= payload.length; p += 6) {
        settings.put(((payload[p] & 0xff) << 8) | (payload[p + 1] & 0xff), H2Frames.uint32(payload, p + 2));
      }
      H2Frames.write(out, 0x4, 0x1, 0, new byte[0]);
      out.flush();
    } else if (f.type() == 0x3) { // RST_STREAM
      resets.put(f.stream(), (int) H2Frames.uint32(payload, 0));
    } else if (f.type() == 0x7) { // GOAWAY
      throw new AssertionError("the server closed the connection instead of refusing streams");
    }
  }

  private static <T> T get(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(20, SECONDS);
  }
}
