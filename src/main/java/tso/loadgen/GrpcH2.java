package tso.loadgen;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2ConnectionHandlerBuilder;
import io.netty.handler.codec.http2.Http2FrameAdapter;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.AsciiString;
import io.netty.util.collection.IntObjectHashMap;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.grpc.common.GrpcStatus;

import java.util.ArrayDeque;
import java.util.Arrays;

import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampRange;

/**
 * gRPC over one cleartext HTTP/2 connection, spoken with Netty's HTTP/2 codec directly: unary
 * calls (a stream per request) or one bidirectional stream carrying every request. The generator
 * does not need a general client, and a thin one costs the machine it shares with the server
 * less CPU, and far less compiling while it warms up, than a full client stack.
 *
 * <p>Runs on the event loop of the lane that first uses it; every method is called there.
 */
final class GrpcH2 implements Transport {

  private static final AsciiString POST = AsciiString.cached("POST");
  private static final AsciiString HTTP = AsciiString.cached("http");
  private static final AsciiString CONTENT_TYPE = AsciiString.cached("content-type");
  private static final AsciiString GRPC = AsciiString.cached("application/grpc");
  private static final AsciiString TE = AsciiString.cached("te");
  private static final AsciiString TRAILERS = AsciiString.cached("trailers");
  private static final AsciiString GRPC_STATUS = AsciiString.cached("grpc-status");

  private final Vertx vertx;
  private final String host;
  private final int port;
  private final AsciiString path;
  private final AsciiString authority;
  private final boolean streaming;
  private final IntObjectHashMap<Call> calls = new IntObjectHashMap<>();
  /** Sends made while the connection is being opened. */
  private final ArrayDeque<Pending> pending = new ArrayDeque<>();
  private byte[] frame;
  private int frameCount;

  private EventLoop loop;
  private Channel channel;
  private Http2ConnectionHandler handler;
  private ChannelHandlerContext ctx;
  private boolean connecting;
  /** Stream mode: the one call, or null before it is opened (again). */
  private Call stream;

  /**
   * @param service   e.g. {@code tso.v1.TimestampOracle}
   * @param streaming one StreamTimestamps call for every request, else a GetTimestamps per request
   */
  GrpcH2(Vertx vertx, String host, int port, String service, boolean streaming) {
    this.vertx = vertx;
    this.host = host;
    this.port = port;
    this.streaming = streaming;
    this.path = AsciiString.of("/" + service + (streaming ? "/StreamTimestamps" : "/GetTimestamps"));
    this.authority = AsciiString.of(host + ":" + port);
  }

  @Override
  public Future<Long> send(int count) {
    Promise<Long> p = Promise.promise();
    if (channel != null && ctx != null) {
      write(count, p);
    } else {
      pending.addLast(new Pending(count, p));
      if (!connecting) {
        connect();
      }
    }
    return p.future();
  }

  private void connect() {
    connecting = true;
    if (loop == null) {
      loop = ((ContextInternal) vertx.getOrCreateContext()).nettyEventLoop();
    }
    Http2ConnectionHandler h = new Http2ConnectionHandlerBuilder().server(false)
        .gracefulShutdownTimeoutMillis(0).frameListener(new Listener()).build();
    ChannelFuture f = new Bootstrap().group(loop)
        .channelFactory(((io.vertx.core.internal.VertxInternal) vertx).transport().channelFactory(false))
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5000)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(h, new io.netty.channel.ChannelInboundHandlerAdapter() {
              // The connect future completes before the channel is active, that is before the
              // HTTP/2 handler has written the connection preface: requests go out after it.
              @Override
              public void channelActive(ChannelHandlerContext c) {
                active(c.channel(), h);
                c.fireChannelActive();
              }

              @Override
              public void exceptionCaught(ChannelHandlerContext c, Throwable t) {
                c.close();
              }
            });
          }
        })
        .connect(host, port);
    f.addListener(done -> {
      if (!done.isSuccess()) {
        connecting = false;
        String m = String.valueOf(done.cause() == null ? null : done.cause().getMessage());
        String code = m.contains("refused") ? "connection_refused" : "connect_failed";
        Pending q;
        while ((q = pending.pollFirst()) != null) {
          q.promise.tryFail(new Failure(code));
        }
      }
    });
  }

  private void active(Channel ch, Http2ConnectionHandler h) {
    connecting = false;
    channel = ch;
    handler = h;
    ctx = ch.pipeline().context(h);
    ch.closeFuture().addListener(x -> closed(ch));
    Pending q;
    while ((q = pending.pollFirst()) != null) {
      write(q.count, q.promise);
    }
  }

  private record Pending(int count, Promise<Long> promise) {
  }

  private void write(int count, Promise<Long> p) {
    if (channel == null || !channel.isActive()) {
      p.tryFail(new Failure("connection_closed"));
      return;
    }
    ByteBuf data = Unpooled.wrappedBuffer(message(count));
    if (streaming) {
      if (stream == null) {
        stream = open(false);
        if (stream == null) {
          p.tryFail(new Failure("no_stream"));
          return;
        }
      }
      stream.waiting.addLast(p);
      handler.encoder().writeData(ctx, stream.id, data, 0, false, ctx.voidPromise());
    } else {
      Call c = open(true);
      if (c == null) {
        p.tryFail(new Failure("no_stream"));
        return;
      }
      c.waiting.addLast(p);
      handler.encoder().writeData(ctx, c.id, data, 0, true, ctx.voidPromise());
    }
    channel.flush();
  }

  /** A new HTTP/2 stream with the call's headers written, or null when the connection cannot take one. */
  private Call open(boolean unary) {
    if (!handler.connection().local().canOpenStream()) {
      return null;
    }
    int id = handler.connection().local().incrementAndGetNextStreamId();
    Http2Headers headers = new DefaultHttp2Headers().method(POST).scheme(HTTP).path(path).authority(authority)
        .add(CONTENT_TYPE, GRPC).add(TE, TRAILERS);
    handler.encoder().writeHeaders(ctx, id, headers, 0, false, ctx.voidPromise());
    Call c = new Call(id);
    calls.put(id, c);
    return c;
  }

  /** The length-prefixed request message, built once per count. */
  private byte[] message(int count) {
    if (frame == null || frameCount != count) {
      byte[] body = GetTimestampsRequest.newBuilder().setCount(count).build().toByteArray();
      frame = new byte[5 + body.length];
      frame[1] = (byte) (body.length >>> 24);
      frame[2] = (byte) (body.length >>> 16);
      frame[3] = (byte) (body.length >>> 8);
      frame[4] = (byte) body.length;
      System.arraycopy(body, 0, frame, 5, body.length);
      frameCount = count;
    }
    return frame;
  }

  private void closed(Channel ch) {
    if (channel != ch) {
      return;
    }
    channel = null;
    ctx = null;
    handler = null;
    stream = null;
    for (Call c : calls.values()) {
      c.fail("connection_closed");
    }
    calls.clear();
  }

  @Override
  public Future<Void> close() {
    Channel ch = channel;
    if (ch == null) {
      return Future.succeededFuture();
    }
    Promise<Void> p = Promise.promise();
    ch.close().addListener(f -> p.tryComplete());
    return p.future();
  }

  /** One HTTP/2 stream: its answers' promises in order, and the bytes of a message not yet whole. */
  private static final class Call {
    final int id;
    final ArrayDeque<Promise<Long>> waiting = new ArrayDeque<>(2);
    byte[] buf = new byte[64];
    int len;
    int httpStatus;

    Call(int id) {
      this.id = id;
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
            p.tryComplete(TimestampRange.parser().parseFrom(buf, at + 5, size).getTimestamp());
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

  private final class Listener extends Http2FrameAdapter {
    @Override
    public int onDataRead(ChannelHandlerContext c, int streamId, ByteBuf data, int padding, boolean endOfStream) {
      int processed = data.readableBytes() + padding;
      Call call = calls.get(streamId);
      if (call != null) {
        call.data(data);
        if (endOfStream) {
          ended(call, null);
        }
      }
      return processed;
    }

    @Override
    public void onHeadersRead(ChannelHandlerContext c, int streamId, Http2Headers headers, int padding,
        boolean endOfStream) {
      Call call = calls.get(streamId);
      if (call == null) {
        return;
      }
      CharSequence status = headers.status();
      if (status != null) {
        call.httpStatus = Integer.parseInt(status.toString());
      }
      CharSequence grpc = headers.get(GRPC_STATUS);
      if (endOfStream || grpc != null) {
        ended(call, grpc);
      }
    }

    @Override
    public void onHeadersRead(ChannelHandlerContext c, int streamId, Http2Headers headers, int streamDependency,
        short weight, boolean exclusive, int padding, boolean endOfStream) {
      onHeadersRead(c, streamId, headers, padding, endOfStream);
    }

    @Override
    public void onRstStreamRead(ChannelHandlerContext c, int streamId, long errorCode) {
      Call call = calls.get(streamId);
      if (call != null) {
        ended(call, null);
      }
    }

    /** The call is over: what is still waiting on it fails with its status. */
    private void ended(Call call, CharSequence grpcStatus) {
      calls.remove(call.id);
      boolean wasStream = call == stream;
      if (wasStream) {
        stream = null;
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
  }
}
