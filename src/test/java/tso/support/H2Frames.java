package tso.support;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Headers;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;

/** HTTP/2 frames on a plain socket, for tests that must speak the protocol below any library. */
public final class H2Frames {

  public static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private H2Frames() {
  }

  /** One frame as read. */
  public record Frame(int type, int flags, int stream, byte[] payload) {
  }

  /** Writes one frame (not flushed). */
  public static void write(OutputStream out, int type, int flags, int stream, byte[] payload) throws IOException {
    out.write(new byte[] {(byte) (payload.length >>> 16), (byte) (payload.length >>> 8), (byte) payload.length,
        (byte) type, (byte) flags, (byte) (stream >>> 24), (byte) (stream >>> 16), (byte) (stream >>> 8),
        (byte) stream});
    out.write(payload);
  }

  /** Reads one whole frame. */
  public static Frame read(DataInputStream in) throws IOException {
    int length = (in.readUnsignedShort() << 8) | in.readUnsignedByte();
    int type = in.readUnsignedByte();
    int flags = in.readUnsignedByte();
    int stream = in.readInt() & 0x7fffffff;
    byte[] payload = new byte[length];
    in.readFully(payload);
    return new Frame(type, flags, stream, payload);
  }

  /** A header block from {@code encoder} (whose dynamic table the peer's decoder follows). */
  public static byte[] encode(DefaultHttp2HeadersEncoder encoder, int stream, Http2Headers headers) throws Exception {
    ByteBuf b = Unpooled.buffer();
    encoder.encodeHeaders(stream, headers, b);
    byte[] bytes = new byte[b.readableBytes()];
    b.readBytes(bytes);
    return bytes;
  }

  /** A big-endian unsigned 32-bit value at {@code at}. */
  public static long uint32(byte[] b, int at) {
    return ((b[at] & 0xffL) << 24) | ((b[at + 1] & 0xff) << 16) | ((b[at + 2] & 0xff) << 8) | (b[at + 3] & 0xff);
  }
}
