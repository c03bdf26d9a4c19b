package tso.api.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

import java.math.BigInteger;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Tag("unit")
@net.jqwik.api.Tag("unit")
class HttpApiParseTest {

  private static final int MAX = 65536;
  private static final String JSON = "application/json";

  private static int parse(String body) {
    return HttpApi.parseCount(Buffer.buffer(body), JSON, MAX);
  }

  private static HttpApi.BadRequest refused(String body, String contentType) {
    HttpApi.BadRequest e = catchThrowableOfType(HttpApi.BadRequest.class,
        () -> HttpApi.parseCount(Buffer.buffer(body), contentType, MAX));
    assertThat(e).as("body %s should be refused", body).isNotNull();
    return e;
  }

  private static void invalid(String body) {
    HttpApi.BadRequest e = refused(body, JSON);
    assertThat(e.status).isEqualTo(400);
    assertThat(e.code).isEqualTo("INVALID_ARGUMENT");
    assertThat(e.getMessage()).isNotBlank();
  }

  // ---------------------------------------------------------------- accepted

  @ParameterizedTest
  @ValueSource(strings = {"", " ", "\n", "\r\n", " \t \n "})
  void emptyOrWhitespaceBodyMeansOne(String body) {
    assertThat(parse(body)).isEqualTo(1);
  }

  @Test
  void emptyBodyMeansOneWhateverTheContentType() {
    assertThat(HttpApi.parseCount(Buffer.buffer(), "text/plain", MAX)).isEqualTo(1);
    assertThat(HttpApi.parseCount(Buffer.buffer(), null, MAX)).isEqualTo(1);
  }

  @Test
  void countAtTheEndsOfTheRange() {
    assertThat(parse("{\"count\":1}")).isEqualTo(1);
    assertThat(parse("{\"count\":" + MAX + "}")).isEqualTo(MAX);
    assertThat(HttpApi.parseCount(Buffer.buffer("{\"count\":10}"), JSON, 10)).isEqualTo(10);
    assertThat(HttpApi.parseCount(Buffer.buffer("{\"count\":262144}"), JSON, 262144)).isEqualTo(262144);
  }

  @Test
  void countWithWhitespaceAroundTheJson() {
    assertThat(parse("  {\n  \"count\" : 7\n}\n")).isEqualTo(7);
  }

  @Test
  void countAsADecimalStringIsAccepted() {
    assertThat(parse("{\"count\":\"3\"}")).isEqualTo(3);
    assertThat(parse("{\"count\":\"" + MAX + "\"}")).isEqualTo(MAX);
  }

  @Test
  void absentOrNullCountMeansOne() {
    // proto3 JSON mapping: a missing or null field is the default, and count 0 means 1
    assertThat(parse("{}")).isEqualTo(1);
    assertThat(parse("{\"count\":null}")).isEqualTo(1);
  }

  @ParameterizedTest
  @ValueSource(strings = {"application/json; charset=utf-8", "application/json;charset=UTF-8", "Application/JSON",
      " application/json "})
  void jsonContentTypesWithParametersAreAccepted(String contentType) {
    assertThat(HttpApi.parseCount(Buffer.buffer("{\"count\":5}"), contentType, MAX)).isEqualTo(5);
  }

  @Test
  void missingContentTypeIsReadAsJson() {
    assertThat(HttpApi.parseCount(Buffer.buffer("{\"count\":5}"), null, MAX)).isEqualTo(5);
  }

  // ---------------------------------------------------------------- refused

  @ParameterizedTest
  @ValueSource(strings = {
      "{\"count\":0}",
      "{\"count\":-1}",
      "{\"count\":65537}",
      "{\"count\":2147483648}",
      "{\"count\":99999999999}",
      "{\"count\":99999999999999999999999}",
      "{\"count\":1e30}",
      "{\"count\":1e2}",
      "{\"count\":1.5}",
      "{\"count\":1.0}",
      "{\"count\":true}",
      "{\"count\":false}",
      "{\"count\":[]}",
      "{\"count\":[1]}",
      "{\"count\":\"abc\"}",
      "{\"count\":\"\"}",
      "{\"count\":\" 3\"}",
      "{\"count\":\"3.0\"}",
      "{\"count\":\"0\"}",
      "{\"count\":\"-1\"}",
      "{\"count\":\"65537\"}",
      "{\"count\":\"99999999999999999999\"}",
      "{\"count\":{\"n\":1}}",
      "{\"count\":{}}",
      "{\"count\":1,\"extra\":2}",
      "{\"Count\":1}",
      "{\"counts\":1}",
      "{\"count\":",
      "{\"count\":1",
      "{count:1}",
      "{'count':1}",
      "{\"count\":1,}",
      "garbage",
      "{\"count\":1} x",
      "{\"count\":1}{}",
      "{\"count\":1}]",
      "[]",
      "[{\"count\":1}]",
      "\"3\"",
      "3",
      "null",
      "true"})
  void badBodiesAreInvalidArgument(String body) {
    invalid(body);
  }

  @Test
  void countAboveASmallMaxIsRefused() {
    HttpApi.BadRequest e = catchThrowableOfType(HttpApi.BadRequest.class,
        () -> HttpApi.parseCount(Buffer.buffer("{\"count\":11}"), JSON, 10));
    assertThat(e).isNotNull();
    assertThat(e.status).isEqualTo(400);
    assertThat(e.code).isEqualTo("INVALID_ARGUMENT");
    assertThat(e.getMessage()).contains("10");
  }

  @ParameterizedTest
  @ValueSource(strings = {"text/plain", "application/x-www-form-urlencoded", "application/jsonx", "text/json",
      "application/xml", "multipart/form-data; boundary=x", ""})
  void nonJsonContentTypeWithABodyIsUnsupportedMediaType(String contentType) {
    HttpApi.BadRequest e = refused("{\"count\":1}", contentType);
    assertThat(e.status).isEqualTo(415);
    assertThat(e.code).isEqualTo("UNSUPPORTED_MEDIA_TYPE");
  }

  // ---------------------------------------------------------------- rangeJson

  @Test
  void rangeJsonHasExactlyTheContractFields() {
    long physical = 1_700_000_000_123L;
    int logical = 5;
    long ts = physical << 18 | logical;
    String json = HttpApi.rangeJson(ts, 3, 7);
    assertThat(json).isEqualTo("{\"timestamp\":\"" + ts + "\",\"count\":3,\"epoch\":\"7\",\"physicalMs\":"
        + physical + ",\"logical\":5}");

    JsonObject o = new JsonObject(json);
    assertThat(o.fieldNames()).containsExactlyInAnyOrder("timestamp", "count", "epoch", "physicalMs", "logical");
    assertThat(o.getValue("timestamp")).isInstanceOf(String.class).isEqualTo(Long.toString(ts));
    assertThat(o.getValue("epoch")).isInstanceOf(String.class).isEqualTo("7");
    assertThat(o.getValue("count")).isEqualTo(3);
    assertThat(((Number) o.getValue("physicalMs")).longValue()).isEqualTo(physical);
    assertThat(((Number) o.getValue("logical")).intValue()).isEqualTo(logical);
  }

  @Test
  void rangeJsonWritesLargeValuesAsExactUnsignedDecimalStrings() {
    long physical = (1L << 46) - 1; // largest physical: the timestamp uses all 64 bits
    int logical = (1 << 18) - 1;
    long ts = physical << 18 | logical;
    JsonObject o = new JsonObject(HttpApi.rangeJson(ts, 1, Long.MAX_VALUE));
    assertThat(o.getString("timestamp")).isEqualTo("18446744073709551615");
    assertThat(o.getString("epoch")).isEqualTo("9223372036854775807");
    assertThat(o.getLong("physicalMs")).isEqualTo(physical);
    assertThat(o.getInteger("logical")).isEqualTo(logical);
  }

  @Test
  void rangeJsonAtTimeZero() {
    JsonObject o = new JsonObject(HttpApi.rangeJson(0, 1, 0));
    assertThat(o.getString("timestamp")).isEqualTo("0");
    assertThat(o.getString("epoch")).isEqualTo("0");
    assertThat(o.getLong("physicalMs")).isZero();
    assertThat(o.getInteger("logical")).isZero();
  }

  @Property(tries = 500)
  void rangeJsonIsConsistentWithTheTimestamp(@ForAll @LongRange(min = 0, max = (1L << 46) - 1) long physical,
      @ForAll @IntRange(min = 0, max = (1 << 18) - 1) int logical,
      @ForAll @IntRange(min = 1, max = 1 << 18) int count,
      @ForAll @LongRange(min = 0) long epoch) {
    long ts = physical << 18 | logical;
    JsonObject o = new JsonObject(HttpApi.rangeJson(ts, count, epoch));
    assertThat(o.fieldNames()).containsExactlyInAnyOrder("timestamp", "count", "epoch", "physicalMs", "logical");
    BigInteger timestamp = new BigInteger(o.getString("timestamp"));
    assertThat(timestamp).isEqualTo(new BigInteger(Long.toUnsignedString(ts)));
    assertThat(o.getLong("physicalMs")).isEqualTo(physical);
    assertThat(o.getInteger("logical")).isEqualTo(logical);
    assertThat(timestamp).isEqualTo(BigInteger.valueOf(o.getLong("physicalMs")).shiftLeft(18)
        .or(BigInteger.valueOf(o.getInteger("logical"))));
    assertThat(o.getInteger("count")).isEqualTo(count);
    assertThat(new BigInteger(o.getString("epoch"))).isEqualTo(BigInteger.valueOf(epoch));
  }
}
