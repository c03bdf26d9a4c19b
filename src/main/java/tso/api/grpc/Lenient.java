package tso.api.grpc;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Parser;

import io.vertx.grpc.common.CodecException;
import io.vertx.grpc.common.GrpcMessage;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.WireFormat;

/**
 * A decoded request message, or why it could not be decoded. The stock decoder throws on bad
 * bytes and the call is then cancelled; the contract wants INVALID_ARGUMENT, so decoding never
 * throws and the handler answers the error itself.
 */
record Lenient<T>(T message, String error) {

  /** A protobuf decoder that turns malformed bytes into a {@link Lenient} error value. */
  static <T> GrpcMessageDecoder<Lenient<T>> decoder(Parser<T> parser) {
    return new GrpcMessageDecoder<>() {
      @Override
      public Lenient<T> decode(GrpcMessage msg) throws CodecException {
        try {
          return new Lenient<>(parser.parseFrom(msg.payload().getBytes()), null);
        } catch (InvalidProtocolBufferException e) {
          return new Lenient<>(null, "malformed request message");
        }
      }

      @Override
      public boolean accepts(WireFormat format) {
        return format == WireFormat.PROTOBUF;
      }
    };
  }

  boolean ok() {
    return error == null;
  }
}
