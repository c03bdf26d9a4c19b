package tso.loadgen;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Headers;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampRange;
import tso.support.H2Frames.Frame;
import tso.support.H2Frames;

/**
 * The generator's hand-framed gRPC client against a scripted HTTP/2 peer: what it sends, and how
 * it follows the protocol events a real server may produce (SETTINGS, PING, header blocks split
 * into CONTINUATION frames, padding, flow-control windows, RST_STREAM, trailers-only errors and
 * GOAWAY). The real server's side is in {@link TransportsTest}.
 */
@Timeout(value = 30, unit = SECONDS)
class GrpcH2Test {

  private static final String SERVICE = "tso.v1.TimestampOracle";
  private Vertx vertx;
  private Context context;
  private ServerSocket server;

  @BeforeEach
  void setUp() throws IOException {
    vertx = Vertx.vertx();
    context = vertx.getOrCreateContext();
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    server.setSoTimeout(10_000);
  }

  @AfterEach
  void tearDown() throws Exception {
    server.close();
    vertx.close().toCompletionStage().toCompletableFuture().get(10, SECONDS);
  }

  @Test
  void aUnaryCallFollowsTheProtocolAndReadsSplitAndPaddedFrames() throws Exception {
    GrpcH2 client = new GrpcH2(vertx, "127.0.0.1", server.getLocalPort(), SERVICE, false);
    CompletableFuture<Long> answer = send(client, 3);
    try (Peer peer = new Peer(server.accept())) {
      List<long[]> settings = peer.handshake(100);
      assertThat(settings).anySatisfy(s -> assertThat(s).containsExactly(0x2, 0)); // no push
      peer.ping(new byte[] {1, 2, 3, 4, 5, 6, 7, 8});

      Frame headers = peer.read();
      assertThat(headers.type()).isEqualTo(0x1);
      assertThat(headers.stream()).isEqualTo(1);
      Http2Headers h = peer.decode(headers);
      assertThat(h.method().toString()).isEqualTo("POST");
      assertThat(h.scheme().toString()).isEqualTo("http");
      assertThat(h.path().toString()).isEqualTo("/" + SERVICE + "/GetTimestamps");
      assertThat(h.authority().toString()).isEqualTo("127.0.0.1:" + server.getLocalPort());
      assertThat(h.get("content-type").toString()).isEqualTo("application/grpc");
      assertThat(h.get("te").toString()).isEqualTo("trailers");
      Frame data = peer.read();
      assertThat(data.type()).isEqualTo(0x0);
      assertThat(data.flags() & 0x1).as("END_STREAM").isEqualTo(1);
      assertThat(GetTimestampsRequest.parseFrom(java.util.Arrays.copyOfRange(data.payload(), 5, data.payload().length))
          .getCount()).isEqualTo(3);

      // Response headers in a HEADERS and a CONTINUATION frame, a padded DATA frame, trailers.
      byte[] block = peer.encode(1, new DefaultHttp2Headers().status("200").add("content-type", "application/grpc"));
      int half = block.length / 2;
      peer.write(0x1, 0, 1, java.util.Arrays.copyOfRange(block, 0, half));
      peer.write(0x9, 0x4, 1, java.util.Arrays.copyOfRange(block, half, block.length));
      byte[] msg = message(TimestampRange.newBuilder().setTimestamp(42).setCount(3).build().toByteArray());
      byte[] padded = new byte[1 + msg.length + 4];
      padded[0] = 4;
      System.arraycopy(msg, 0, padded, 1, msg.length);
      peer.write(0x0, 0x8, 1, padded);
      peer.write(0x1, 0x4 | 0x1, 1, peer.encode(1, new DefaultHttp2Headers().add("grpc-status", "0")));
      assertThat(answer.get(10, SECONDS)).isEqualTo(42L);
    }
  }

  @Test
  void errorsAreReportedByTheirCodes() throws Exception {
    GrpcH2 client = new GrpcH2(vertx, "127.0.0.1", server.getLocalPort(), SERVICE, false);
    CompletableFuture<Long> busy = send(client, 1);
    CompletableFuture<Long> reset = send(client, 1);
    try (Peer peer = new Peer(server.accept())) {
      peer.handshake(100);
      peer.readRequest(1);
      peer.readRequest(3);
      // A trailers-only answer, and a reset stream.
      peer.write(0x1, 0x4 | 0x1, 1, peer.encode(1,
          new DefaultHttp2Headers().status("200").add("content-type", "application/grpc").add("grpc-status", "8")));
      peer.write(0x3, 0, 3, new byte[] {0, 0, 0, 7});
      assertThat(code(busy)).isEqualTo("grpc_RESOURCE_EXHAUSTED");
      assertThat(code(reset)).isEqualTo("stream_reset");
    }
  }

  @Test
  void requestsWaitForTheServersFlowControlWindow() throws Exception {
    GrpcH2 client = new GrpcH2(vertx, "127.0.0.1", server.getLocalPort(), SERVICE, true);
    int messageBytes = message(GetTimestampsRequest.newBuilder().setCount(1).build().toByteArray()).length;
    int fit = 65_535 / messageBytes; // the initial windows, connection and stream
    List<CompletableFuture<Long>> answers = new ArrayList<>();
    for (int i = 0; i < fit + 100; i++) {
      answers.add(send(client, 1));
    }
    try (Peer peer = new Peer(server.accept())) {
      peer.handshake(100);
      assertThat(peer.read().type()).isEqualTo(0x1); // the stream's HEADERS
      long bytes = 0;
      for (int i = 0; i < fit; i++) {
        Frame f = peer.read();
        assertThat(f.type()).isEqualTo(0x0);
        bytes += f.payload().length;
      }
      assertThat(bytes).isLessThanOrEqualTo(65_535);
      assertThat(peer.poll(300)).as("nothing beyond the window").isNull();

      byte[] increment = {0, 0, 0x10, 0};
      peer.write(0x8, 0, 0, increment);
      peer.write(0x8, 0, 1, increment);
      for (int i = 0; i < 100; i++) {
        assertThat(peer.read().type()).isEqualTo(0x0);
      }
      // Answers come back in order on the one stream.
      for (int i = 0; i < fit + 100; i++) {
        peer.write(0x0, 0, 1, message(TimestampRange.newBuilder().setTimestamp(1000 + i).setCount(1).build()
            .toByteArray()));
      }
      assertThat(answers.get(fit + 99).get(10, SECONDS)).isEqualTo(1000L + fit + 99);
      assertThat(answers.get(0).get()).isEqualTo(1000L);
    }
  }

  @Test
  void goAwayFailsTheCallsAboveItsLastStreamAndLaterRequestsGoOnANewConnection() throws Exception {
    GrpcH2 client = new GrpcH2(vertx, "127.0.0.1", server.getLocalPort(), SERVICE, false);
    CompletableFuture<Long> first = send(client, 1);
    CompletableFuture<Long> second = send(client, 1);
    try (Peer peer = new Peer(server.accept())) {
      peer.handshake(100);
      peer.readRequest(1);
      peer.readRequest(3);
      peer.write(0x7, 0, 0, new byte[] {0, 0, 0, 1, 0, 0, 0, 0}); // last stream 1, NO_ERROR
      assertThat(code(second)).isEqualTo("goaway");
      CompletableFuture<Long> later = send(client, 1);
      Thread.sleep(100);
      assertThat(later).as("waits for a new connection").isNotDone();
      peer.answer(1, 7);
      assertThat(first.get(10, SECONDS)).isEqualTo(7L);

      try (Peer next = new Peer(server.accept())) {
        next.handshake(100);
        next.readRequest(1);
        next.answer(1, 8);
        assertThat(later.get(10, SECONDS)).isEqualTo(8L);
      }
    }
  }

  private CompletableFuture<Long> send(GrpcH2 client, int count) {
    CompletableFuture<Long> f = new CompletableFuture<>();
    context.runOnContext(v -> {
      Future<Long> answer = client.send(count);
      answer.onComplete(ar -> {
        if (ar.succeeded()) {
          f.complete(ar.result());
        } else {
          f.completeExceptionally(ar.cause());
        }
      });
    });
    return f;
  }

  private static String code(CompletableFuture<Long> f) throws Exception {
    try {
      f.get(10, SECONDS);
      throw new AssertionError("succeeded");
    } catch (ExecutionException e) {
      return ((Transport.Failure) e.getCause()).code;
    }
  }

  private static byte[] message(byte[] body) {
    byte[] m = new byte[5 + body.length];
    m[4] = (byte) body.length;
    System.arraycopy(body, 0, m, 5, body.length);
    return m;
  }

  /** The server's end of one connection, driven by the test. */
  private static final class Peer implements AutoCloseable {
    private final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;
    private final DefaultHttp2HeadersEncoder encoder = new DefaultHttp2HeadersEncoder();
    private final DefaultHttp2HeadersDecoder decoder = new DefaultHttp2HeadersDecoder(false);
    /** Frames read while waiting for another one (a client may send requests before the handshake ends). */
    private final java.util.ArrayDeque<Frame> early = new java.util.ArrayDeque<>();

    Peer(Socket socket) throws IOException {
      this.socket = socket;
      socket.setSoTimeout(10_000);
      this.in = new DataInputStream(socket.getInputStream());
      this.out = socket.getOutputStream();
    }

    /** Reads the preface and the client's SETTINGS, sends ours, and sees them acknowledged. */
    List<long[]> handshake(int maxStreams) throws Exception {
      byte[] preface = new byte[24];
      in.readFully(preface);
      assertThat(new String(preface, java.nio.charset.StandardCharsets.US_ASCII))
          .isEqualTo("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      Frame settings = readFromSocket();
      assertThat(settings.type()).isEqualTo(0x4);
      List<long[]> pairs = new ArrayList<>();
      for (int p = 0; p + 6 <= settings.payload().length; p += 6) {
        pairs.add(new long[] {((settings.payload()[p] & 0xff) << 8) | (settings.payload()[p + 1] & 0xff),
            H2Frames.uint32(settings.payload(), p + 2)});
      }
      write(0x4, 0, 0, new byte[] {0, 0x3, 0, 0, 0, (byte) maxStreams});
      boolean acked = false;
      while (!acked) {
        Frame f = readFromSocket();
        if (f.type() == 0x4 && f.flags() == 0x1) {
          acked = true;
        } else if (f.type() != 0x8) { // the client's WINDOW_UPDATE for the connection
          early.addLast(f);
        }
      }
      return pairs;
    }

    void ping(byte[] data) throws Exception {
      write(0x6, 0, 0, data);
      List<Frame> others = new ArrayList<>();
      Frame f;
      while ((f = readFromSocket()).type() != 0x6) {
        others.add(f);
      }
      early.addAll(others);
      assertThat(f.flags()).isEqualTo(0x1);
      assertThat(f.payload()).containsExactly(data);
    }

    /** Reads one unary request's HEADERS and DATA on {@code stream}. */
    void readRequest(int stream) throws Exception {
      Frame h = read();
      assertThat(h.type()).isEqualTo(0x1);
      assertThat(h.stream()).isEqualTo(stream);
      decode(h);
      Frame d = read();
      assertThat(d.type()).isEqualTo(0x0);
      assertThat(d.stream()).isEqualTo(stream);
    }

    /** A whole unary answer: headers, the message, trailers. */
    void answer(int stream, long timestamp) throws Exception {
      write(0x1, 0x4, stream, encode(stream, new DefaultHttp2Headers().status("200").add("content-type", "application/grpc")));
      write(0x0, 0, stream, message(TimestampRange.newBuilder().setTimestamp(timestamp).setCount(1).build().toByteArray()));
      write(0x1, 0x4 | 0x1, stream, encode(stream, new DefaultHttp2Headers().add("grpc-status", "0")));
    }

    Http2Headers decode(Frame f) throws Exception {
      return decoder.decodeHeaders(f.stream(), Unpooled.wrappedBuffer(f.payload()));
    }

    byte[] encode(int stream, Http2Headers h) throws Exception {
      return H2Frames.encode(encoder, stream, h);
    }

    Frame read() throws IOException {
      return early.isEmpty() ? readFromSocket() : early.pollFirst();
    }

    private Frame readFromSocket() throws IOException {
      return H2Frames.read(in);
    }

    /** The next frame if one comes within {@code ms}, else null. */
    Frame poll(int ms) throws IOException {
      if (!early.isEmpty()) {
        return early.pollFirst();
      }
      socket.setSoTimeout(ms);
      try {
        return readFromSocket();
      } catch (java.net.SocketTimeoutException e) {
        return null;
      } finally {
        socket.setSoTimeout(10_000);
      }
    }

    void write(int type, int flags, int stream, byte[] payload) throws IOException {
      H2Frames.write(out, type, flags, stream, payload);
      out.flush();
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }
}
