package tso.loadgen;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.AsciiString;
import io.netty.util.collection.IntObjectHashMap;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.grpc.common.GrpcStatus;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;

import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampRange;

/**
 * gRPC over one HTTP/2 connection, framed by hand: unary calls (a stream per request)
 * or one bidirectional stream carrying every request. Cleartext HTTP/2 with prior knowledge, or,
 * given an SslContext, TLS whose ALPN must settle on {@code h2}: requests wait until the handshake
 * is done; a failed handshake fails them with {@code tls_handshake_failed}, a server that does not
 * choose h2 with {@code tls_no_h2}, a TLS alert later (a client certificate refused under TLS 1.3)
 * with {@code tls_error}. A request is a HEADERS block encoded once
 * (static-table and literal fields only, so it never touches the HPACK dynamic table) and a DATA
 * frame, written in one go; answers are read frame by frame, with Netty's HPACK decoder for the
 * headers and trailers. Flow control, SETTINGS, PING, RST_STREAM and GOAWAY are honoured.
 *
 * <p>Why not a full HTTP/2 stack: the generator shares the machine with the server it measures.
 * Netty's HTTP/2 connection handler (stream state machine, flow controllers, promise per frame)
 * cost the generator about as much CPU per call as the server spent answering it, and a cold JVM
 * needed seconds of load to compile it; the latency of those seconds was the generator's, not the
 * server's.
 *
 * <p>Runs on the event loop of the lane that first uses it; every method is called there.
 */
final class GrpcH2 implements Transport {

  private static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
  private static final int DATA = 0x0;
  private static final int HEADERS = 0x1;
  private static final int RST_STREAM = 0x3;
  private static final int SETTINGS = 0x4;
  private static final int PUSH_PROMISE = 0x5;
  private static final int PING = 0x6;
  private static final int GOAWAY = 0x7;
  private static final int WINDOW_UPDATE = 0x8;
  private static final int CONTINUATION = 0x9;
  private static final int END_STREAM = 0x1;
  private static final int ACK = 0x1;
  private static final int END_HEADERS = 0x4;
  private static final int PADDED = 0x8;
  private static final int PRIORITY = 0x20;
  /** Largest frame we accept: we never raise SETTINGS_MAX_FRAME_SIZE from its default. */
  private static final int MAX_FRAME = 16_384;
  /** What we let the server send before it must wait for a WINDOW_UPDATE, per stream and in all. */
  private static final int RECV_WINDOW = 1 << 30;
  private static final AsciiString GRPC_STATUS = AsciiString.cached("grpc-status");

  private final Vertx vertx;
  private final String host;
  private final int port;
  private final boolean streaming;
  /** TLS, or null for cleartext. */
  private final SslContext ssl;
  private final byte[] headerBlock;
  private final IntObjectHashMap<Call> calls = new IntObjectHashMap<>();
  /** Requests not yet written: the connection is opening, or the send window is exhausted. */
  private final ArrayDeque<Pending> pending = new ArrayDeque<>();
  private byte[] message;
  private int messageCount;

  private EventLoop loop;
  private Channel channel;
  private boolean connecting;
  /** TLS: the channel connected whose handshake is not done yet, or null. */
  private Channel opening;
  /** Why the channel ended, when it was not simply closed: what its calls fail with. */
  private String closeCode;
  /** Stream mode: the one call, or null before it is opened (again). */
  private Call stream;
  /** The epoch of the answer completed last (see {@link Transport#epoch()}). */
  private long epoch;

  // Per connection; reset by active().
  private int nextStreamId;
  private long maxConcurrentStreams;
  private int peerInitialWindow;
  private long sendWindow;
  private long recvUnacked;
  private boolean goingAway;
  private DefaultHttp2HeadersDecoder decoder;
  private ByteBuf cumulation;
  /** A header block still waiting for its CONTINUATION frames: its stream, or 0. */
  private int headerStream;
  private boolean headerEndStream;
  private ByteBuf headerFragments;

  /**
   * @param service   e.g. {@code tso.v1.TimestampOracle}
   * @param streaming one StreamTimestamps call for every request, else a GetTimestamps per request
   */
  GrpcH2(Vertx vertx, String host, int port, String service, boolean streaming) {
    this(vertx, host, port, service, streaming, null);
  }

  /** @param ssl TLS with ALPN offering h2 (and checking the server's name), or null for cleartext */
  GrpcH2(Vertx vertx, String host, int port, String service, boolean streaming, SslContext ssl) {
    this.vertx = vertx;
    this.host = host;
    this.port = port;
    this.streaming = streaming;
    this.ssl = ssl;
    this.headerBlock = headerBlock("/" + service + (streaming ? "/StreamTimestamps" : "/GetTimestamps"),
        host + ":" + port, ssl != null);
  }

  static byte[] headerBlock(String path, String authority) {
    return headerBlock(path, authority, false);
  }

  /**
   * The request headers in HPACK (RFC 7541): indexed static entries, and literals "without
   * indexing" with a static name, so the block is the same for every call.
   */
  static byte[] headerBlock(String path, String authority, boolean https) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    b.write(0x83); // :method POST (static 3)
    b.write(https ? 0x87 : 0x86); // :scheme https (static 7) or http (static 6)
    literal(b, 4, path); // :path
    literal(b, 1, authority); // :authority
    literal(b, 31, "application/grpc"); // content-type
    b.write(0x00); // te: trailers, a literal name
    string(b, "te");
    string(b, "trailers");
    return b.toByteArray();
  }

  private static void literal(ByteArrayOutputStream b, int nameIndex, String value) {
    integer(b, 0x00, 4, nameIndex);
    string(b, value);
  }

  private static void string(ByteArrayOutputStream b, String s) {
    byte[] bytes = s.getBytes(StandardCharsets.US_ASCII);
    integer(b, 0x00, 7, bytes.length); // not Huffman-coded
    b.write(bytes, 0, bytes.length);
  }

  /** An HPACK integer with an {@code prefix}-bit prefix after the bits in {@code first}. */
  private static void integer(ByteArrayOutputStream b, int first, int prefix, int value) {
    int max = (1 << prefix) - 1;
    if (value < max) {
      b.write(first | value);
      return;
    }
    b.write(first | max);
    value -= max;
    while (value >= 128) {
      b.write((value & 0x7f) | 0x80);
      value >>>= 7;
    }
    b.write(value);
  }

  @Override
  public Future<Long> send(int count) {
    Promise<Long> p = Promise.promise();
    if (channel != null && !goingAway && pending.isEmpty() && fits(count)) {
      write(count, p);
    } else {
      pending.addLast(new Pending(count, p));
      if (channel == null && !connecting) {
        connect();
      }
    }
    return p.future();
  }

  private record Pending(int count, Promise<Long> promise) {
  }

  private void connect() {
    connecting = true;
    if (loop == null) {
      loop = ((ContextInternal) vertx.getOrCreateContext()).nettyEventLoop();
    }
    ChannelFuture f = new Bootstrap().group(loop)
        .channelFactory(((io.vertx.core.internal.VertxInternal) vertx).transport().channelFactory(false))
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5000)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            if (ssl != null) {
              ch.pipeline().addLast(ssl.newHandler(ch.alloc(), host, port)); // host: SNI and the name checked
            }
            ch.pipeline().addLast(new Frames());
          }
        })
        .connect(host, port);
    f.addListener(done -> {
      if (!done.isSuccess()) {
        connecting = false;
        String m = String.valueOf(done.cause() == null ? null : done.cause().getMessage());
        failPending(m.contains("refused") ? "connection_refused" : "connect_failed");
      }
    });
  }

  /** TLS: the handshake of the channel being opened failed, or settled on no h2. */
  private void notOpened(Channel ch, String code) {
    opening = null;
    connecting = false;
    failPending(code);
    ch.close();
  }

  private void active(Channel ch) {
    connecting = false;
    channel = ch;
    closeCode = null;
    nextStreamId = 1;
    maxConcurrentStreams = Long.MAX_VALUE; // until the server's SETTINGS say otherwise
    peerInitialWindow = 65_535;
    sendWindow = 65_535;
    recvUnacked = 0;
    goingAway = false;
    decoder = new DefaultHttp2HeadersDecoder(false);
    headerStream = 0;
    ByteBuf out = ch.alloc().buffer(PREFACE.length + 9 + 12 + 9 + 4);
    out.writeBytes(PREFACE);
    frameHeader(out, 12, SETTINGS, 0, 0);
    out.writeShort(0x2).writeInt(0); // ENABLE_PUSH: off
    out.writeShort(0x4).writeInt(RECV_WINDOW); // INITIAL_WINDOW_SIZE
    frameHeader(out, 4, WINDOW_UPDATE, 0, 0);
    out.writeInt(RECV_WINDOW - 65_535); // the connection's window, to match
    ch.writeAndFlush(out, ch.voidPromise());
    writePending();
  }

  /** Writes what waited, in order, while the connection can take it. */
  private void writePending() {
    while (!pending.isEmpty() && channel != null && !goingAway && fits(pending.peekFirst().count)) {
      Pending q = pending.pollFirst();
      write(q.count, q.promise);
    }
  }

  /** True when the server's flow-control windows let a request for {@code count} go now. */
  private boolean fits(int count) {
    int n = message(count).length;
    return sendWindow >= n && (!streaming || stream == null || stream.sendWindow >= n);
  }

  /** Writes the request; the caller has checked that it {@link #fits}. */
  private void write(int count, Promise<Long> p) {
    byte[] msg = message(count);
    Call c = streaming ? stream : null;
    boolean open = c == null;
    if (open) {
      if (calls.size() >= maxConcurrentStreams || nextStreamId < 0) {
        p.tryFail(new Failure("no_stream"));
        return;
      }
      c = new Call(nextStreamId, peerInitialWindow);
      nextStreamId += 2;
      calls.put(c.id, c);
      if (streaming) {
        stream = c;
      }
    }
    ByteBuf out = channel.alloc().buffer((open ? 9 + headerBlock.length : 0) + 9 + msg.length);
    if (open) {
      frameHeader(out, headerBlock.length, HEADERS, END_HEADERS, c.id);
      out.writeBytes(headerBlock);
    }
    frameHeader(out, msg.length, DATA, streaming ? 0 : END_STREAM, c.id);
    out.writeBytes(msg);
    sendWindow -= msg.length;
    c.sendWindow -= msg.length;
    c.waiting.addLast(p);
    channel.writeAndFlush(out, channel.voidPromise());
  }

  private static void frameHeader(ByteBuf out, int length, int type, int flags, int streamId) {
    out.writeMedium(length).writeByte(type).writeByte(flags).writeInt(streamId);
  }

  /** The length-prefixed request message, built once per count. */
  private byte[] message(int count) {
    if (message == null || messageCount != count) {
      byte[] body = GetTimestampsRequest.newBuilder().setCount(count).build().toByteArray();
      message = new byte[5 + body.length];
      message[1] = (byte) (body.length >>> 24);
      message[2] = (byte) (body.length >>> 16);
      message[3] = (byte) (body.length >>> 8);
      message[4] = (byte) body.length;
      System.arraycopy(body, 0, message, 5, body.length);
      messageCount = count;
    }
    return message;
  }

  private void failPending(String code) {
    Pending q;
    while ((q = pending.pollFirst()) != null) {
      q.promise.tryFail(new Failure(code));
    }
  }

  private void closed(Channel ch) {
    if (opening == ch) {
      notOpened(ch, "connection_closed"); // closed during the TLS handshake
      return;
    }
    if (channel != ch) {
      return;
    }
    channel = null;
    stream = null;
    String code = closeCode == null ? "connection_closed" : closeCode;
    for (Call c : calls.values()) {
      c.fail(code);
    }
    calls.clear();
    if (cumulation != null) {
      cumulation.release();
      cumulation = null;
    }
    if (headerFragments != null) {
      headerFragments.release();
      headerFragments = null;
    }
    if (!pending.isEmpty()) {
      if (goingAway) {
        connect(); // the server asked us to go: what waited goes on a new connection
      } else {
        failPending(code);
      }
    }
  }

  @Override
  public long epoch() {
    return epoch;
  }

  @Override
  public Future<Void> close() {
    Channel ch = channel;
    if (ch == null) {
      return Future.succeededFuture();
    }
    Promise<Void> p = Promise.promise();
    ByteBuf out = ch.alloc().buffer(9 + 8);
    frameHeader(out, 8, GOAWAY, 0, 0);
    out.writeInt(0).writeInt(0); // last stream 0, NO_ERROR
    ch.writeAndFlush(out).addListener(w -> ch.close().addListener(f -> p.tryComplete()));
    return p.future();
  }

  /** Ends the connection on a protocol violation by the server. */
  private void protocolError(Channel ch) {
    for (Call c : calls.values()) {
      c.fail("protocol_error");
    }
    calls.clear();
    ch.close();
  }

  // ------------------------------------------------------------------------------------ reading

  private void read(Channel ch, ByteBuf in) {
    while (in.readableBytes() >= 9) {
      int at = in.readerIndex();
      int length = in.getUnsignedMedium(at);
      if (length > MAX_FRAME) {
        protocolError(ch);
        return;
      }
      if (in.readableBytes() < 9 + length) {
        return;
      }
      int type = in.getUnsignedByte(at + 3);
      int flags = in.getUnsignedByte(at + 4);
      int streamId = in.getInt(at + 5) & 0x7fffffff;
      ByteBuf payload = in.slice(at + 9, length);
      in.skipBytes(9 + length);
      if (!frame(ch, type, flags, streamId, payload) || channel != ch) {
        return;
      }
    }
  }

  /** One frame; false when the connection was ended for it. */
  private boolean frame(Channel ch, int type, int flags, int streamId, ByteBuf payload) {
    if (headerStream != 0 && (type != CONTINUATION || streamId != headerStream)) {
      protocolError(ch); // a header block must not be interleaved (RFC 9113, 6.10)
      return false;
    }
    switch (type) {
      case DATA -> {
        ByteBuf data = unpad(flags, payload);
        if (data == null) {
          protocolError(ch);
          return false;
        }
        Call c = calls.get(streamId);
        if (c != null) {
          c.data(data);
          c.recvUnacked += payload.readableBytes();
          if ((flags & END_STREAM) != 0) {
            ended(c, null);
          } else if (c.recvUnacked > RECV_WINDOW / 2) {
            windowUpdate(ch, c.id, c.recvUnacked);
            c.recvUnacked = 0;
          }
        }
        recvUnacked += payload.readableBytes();
        if (recvUnacked > RECV_WINDOW / 2) {
          windowUpdate(ch, 0, recvUnacked);
          recvUnacked = 0;
        }
      }
      case HEADERS -> {
        ByteBuf block = unpad(flags, payload);
        if (block == null || ((flags & PRIORITY) != 0 && block.readableBytes() < 5)) {
          protocolError(ch);
          return false;
        }
        if ((flags & PRIORITY) != 0) {
          block.skipBytes(5);
        }
        boolean endStream = (flags & END_STREAM) != 0;
        if ((flags & END_HEADERS) != 0) {
          return headers(ch, streamId, block, endStream);
        }
        headerStream = streamId;
        headerEndStream = endStream;
        headerFragments = ch.alloc().buffer(block.readableBytes() * 2);
        headerFragments.writeBytes(block);
      }
      case CONTINUATION -> {
        if (headerStream == 0) {
          protocolError(ch);
          return false;
        }
        headerFragments.writeBytes(payload);
        if ((flags & END_HEADERS) != 0) {
          ByteBuf block = headerFragments;
          headerFragments = null;
          headerStream = 0;
          try {
            return headers(ch, streamId, block, headerEndStream);
          } finally {
            block.release();
          }
        }
      }
      case RST_STREAM -> {
        Call c = calls.get(streamId);
        if (c != null) {
          ended(c, null);
        }
      }
      case SETTINGS -> {
        if ((flags & ACK) == 0) {
          if (payload.readableBytes() % 6 != 0) {
            protocolError(ch);
            return false;
          }
          while (payload.isReadable()) {
            settings(payload.readUnsignedShort(), payload.readUnsignedInt());
          }
          ByteBuf out = ch.alloc().buffer(9);
          frameHeader(out, 0, SETTINGS, ACK, 0);
          ch.writeAndFlush(out, ch.voidPromise());
          writePending();
        }
      }
      case PING -> {
        if ((flags & ACK) == 0) {
          ByteBuf out = ch.alloc().buffer(9 + 8);
          frameHeader(out, 8, PING, ACK, 0);
          out.writeBytes(payload, payload.readerIndex(), 8);
          ch.writeAndFlush(out, ch.voidPromise());
        }
      }
      case GOAWAY -> {
        // Calls above the last stream the server will process fail now; those below it may still
        // be answered, and what is sent from now on waits for a new connection.
        int last = payload.getInt(payload.readerIndex()) & 0x7fffffff;
        goingAway = true;
        for (Call c : calls.values().toArray(new Call[0])) {
          if (c.id > last) {
            calls.remove(c.id);
            if (c == stream) {
              stream = null;
            }
            c.fail("goaway");
          }
        }
        if (calls.isEmpty()) {
          ch.close();
        }
      }
      case WINDOW_UPDATE -> {
        long increment = payload.getInt(payload.readerIndex()) & 0x7fffffffL;
        if (streamId == 0) {
          sendWindow += increment;
        } else {
          Call c = calls.get(streamId);
          if (c != null) {
            c.sendWindow += increment;
          }
        }
        writePending();
      }
      case PUSH_PROMISE -> {
        protocolError(ch); // push is off (our SETTINGS)
        return false;
      }
      default -> {
        // PRIORITY and unknown types are ignored (RFC 9113, 4.1)
      }
    }
    return true;
  }

  private void settings(int id, long value) {
    switch (id) {
      case 0x3 -> maxConcurrentStreams = value;
      case 0x4 -> {
        // A new initial window changes the window of every open stream by the difference.
        long delta = value - peerInitialWindow;
        peerInitialWindow = (int) value;
        for (Call c : calls.values()) {
          c.sendWindow += delta;
        }
      }
      default -> {
        // header table size: our blocks never use the dynamic table; frame size: ours are tiny
      }
    }
  }

  /** The payload without its padding, or null when the padding is longer than the frame. */
  private static ByteBuf unpad(int flags, ByteBuf payload) {
    if ((flags & PADDED) == 0) {
      return payload;
    }
    if (!payload.isReadable()) {
      return null;
    }
    int pad = payload.readUnsignedByte();
    if (pad > payload.readableBytes()) {
      return null;
    }
    return payload.slice(payload.readerIndex(), payload.readableBytes() - pad);
  }

  private void windowUpdate(Channel ch, int streamId, long increment) {
    ByteBuf out = ch.alloc().buffer(9 + 4);
    frameHeader(out, 4, WINDOW_UPDATE, 0, streamId);
    out.writeInt((int) increment);
    ch.writeAndFlush(out, ch.voidPromise());
  }

  private boolean headers(Channel ch, int streamId, ByteBuf block, boolean endStream) {
    Http2Headers headers;
    try {
      headers = decoder.decodeHeaders(streamId, block);
    } catch (Http2Exception e) {
      protocolError(ch); // the HPACK state is lost with it: the connection cannot go on
      return false;
    }
    Call call = calls.get(streamId);
    if (call == null) {
      return true;
    }
    CharSequence status = headers.status();
    if (status != null) {
      try {
        call.httpStatus = Integer.parseInt(status.toString());
      } catch (NumberFormatException e) {
        call.httpStatus = -1;
      }
    }
    CharSequence grpc = headers.get(GRPC_STATUS);
    if (endStream || grpc != null) {
      ended(call, grpc);
    }
    return true;
  }

  /** The call is over: what is still waiting on it fails with its status. */
  private void ended(Call call, CharSequence grpcStatus) {
    calls.remove(call.id);
    boolean wasStream = call == stream;
    if (wasStream) {
      stream = null;
    }
    if (goingAway && calls.isEmpty() && channel != null) {
      channel.close();
    }
    if (call.waiting.isEmpty()) {
      return;
    }
    String code;
    if (grpcStatus == null) {
      code = call.httpStatus != 0 && call.httpStatus != 200 ? "http_" + call.httpStatus : "stream_reset";
    } else {
      int s;
      try {
        s = Integer.parseInt(grpcStatus.toString());
      } catch (NumberFormatException e) {
        s = -1;
      }
      GrpcStatus st = s < 0 ? null : GrpcStatus.valueOf(s);
      code = st == null ? "grpc_" + grpcStatus
          : st != GrpcStatus.OK ? "grpc_" + st.name()
          : wasStream ? "stream_ended" : "bad_answer"; // OK, and no answer for a request
    }
    call.fail(code);
  }

  /** The connection's frames, on its event loop. */
  private final class Frames extends ChannelInboundHandlerAdapter {
    @Override
    public void channelActive(ChannelHandlerContext c) {
      Channel ch = c.channel();
      if (ssl == null) {
        ch.closeFuture().addListener(x -> closed(ch));
        active(ch);
      } else {
        // The SslHandler closes the channel before it reports the TLS alert that ended it: what
        // was in flight fails a moment later, with the alert (tls_error) known by then.
        ch.closeFuture().addListener(x -> ch.eventLoop().execute(() -> closed(ch)));
        opening = ch; // active once the handshake is done
      }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext c, Object event) {
      if (event instanceof SslHandshakeCompletionEvent done && opening == c.channel()) {
        if (!done.isSuccess()) {
          notOpened(c.channel(), "tls_handshake_failed");
        } else if (!"h2".equals(c.pipeline().get(SslHandler.class).applicationProtocol())) {
          notOpened(c.channel(), "tls_no_h2");
        } else {
          opening = null;
          active(c.channel());
        }
      }
      c.fireUserEventTriggered(event);
    }

    @Override
    public void channelRead(ChannelHandlerContext c, Object msg) {
      ByteBuf in = (ByteBuf) msg;
      if (cumulation == null) {
        cumulation = in;
      } else {
        if (cumulation.writableBytes() < in.readableBytes()) {
          ByteBuf bigger = c.alloc().buffer(cumulation.readableBytes() + in.readableBytes());
          bigger.writeBytes(cumulation);
          cumulation.release();
          cumulation = bigger;
        }
        cumulation.writeBytes(in);
        in.release();
      }
      read(c.channel(), cumulation);
      if (cumulation != null && !cumulation.isReadable()) {
        cumulation.release();
        cumulation = null;
      } else if (cumulation != null && cumulation.readerIndex() > 0) {
        cumulation.discardReadBytes();
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext c, Throwable t) {
      if (ssl != null && c.channel() == channel && Transports.Secure.isTls(t)) {
        closeCode = "tls_error";
      }
      c.close();
    }
  }

  /** One HTTP/2 stream: its answers' promises in order, and the bytes of a message not yet whole. */
  private final class Call {
    final int id;
    final ArrayDeque<Promise<Long>> waiting = new ArrayDeque<>(2);
    long sendWindow;
    long recvUnacked;
    byte[] buf = new byte[64];
    int len;
    int httpStatus;

    Call(int id, int sendWindow) {
      this.id = id;
      this.sendWindow = sendWindow;
    }

    void fail(String code) {
      Promise<Long> p;
      while ((p = waiting.pollFirst()) != null) {
        p.tryFail(new Failure(code));
      }
    }

    /** Takes the DATA bytes; answers the head of the queue for every whole message. */
    void data(ByteBuf data) {
      int n = data.readableBytes();
      if (len + n > buf.length) {
        buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + n));
      }
      data.getBytes(data.readerIndex(), buf, len, n);
      len += n;
      int at = 0;
      while (len - at >= 5) {
        int size = ((buf[at + 1] & 0xff) << 24) | ((buf[at + 2] & 0xff) << 16) | ((buf[at + 3] & 0xff) << 8)
            | (buf[at + 4] & 0xff);
        if (size < 0 || len - at - 5 < size) {
          break;
        }
        Promise<Long> p = waiting.pollFirst();
        if (p != null) {
          try {
            TimestampRange range = TimestampRange.parser().parseFrom(buf, at + 5, size);
            epoch = range.getEpoch();
            p.tryComplete(range.getTimestamp());
          } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            p.tryFail(new Failure("bad_answer"));
          }
        }
        at += 5 + size;
      }
      if (at > 0) {
        System.arraycopy(buf, at, buf, 0, len - at);
        len -= at;
      }
    }
  }
}
