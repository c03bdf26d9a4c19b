package tso.election;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;

/** The ACL rule the README gives operators is the one the tests run the nodes with. */
class RedisAclReadmeTest {

  @Test
  void theReadmeGivesTheRuleTheTestsUse() throws Exception {
    assertThat(Files.readString(Path.of("README.md"))).contains(RedisAcl.RULE);
  }
}
