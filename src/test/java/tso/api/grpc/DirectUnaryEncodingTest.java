package tso.api.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** What {@link DirectUnary} writes besides the answer itself. */
class DirectUnaryEncodingTest {

  @Test
  void statusMessagesArePercentEncodedUtf8() {
    assertThat(DirectUnary.percentEncode("count must be from 1 to 10")).isEqualTo("count must be from 1 to 10");
    assertThat(DirectUnary.percentEncode("ü 100%\n")).isEqualTo("%C3%BC 100%25%0A");
  }
}
