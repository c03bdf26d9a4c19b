package tso.election;

import java.util.List;

/**
 * The least a TSO node's Redis user needs, as an ACL rule for Redis 6.2 and 7: the keys of every
 * cluster ({@code {tso:C}:…}), the events channel of every cluster, and only the commands the node
 * sends or its scripts call. The README shows this rule, and the tests run nodes under it.
 *
 * <ul>
 *   <li>{@code EVALSHA}, and {@code EVAL} when Redis answers NOSCRIPT (its script cache empties on
 *       restart) — {@code SCRIPT} is not needed;
 *   <li>inside the scripts: {@code TYPE GET SET DEL PTTL DUMP}, {@code INFO} (which Redis this is:
 *       run id and replication id) and {@code PUBLISH} (the resign notice);
 *   <li>{@code SUBSCRIBE} for resign notices, {@code WAIT} for TSO_REDIS_MIN_REPLICAS, and
 *       {@code SELECT} for a database number in the URL;
 *   <li>what the client sends on connecting: {@code HELLO} (with {@code AUTH} in it), which Redis
 *       allows every user, so neither is listed.
 * </ul>
 *
 * {@code resetchannels} first: Redis 6.2 gives new users every channel by default.
 */
public final class RedisAcl {

  /** What follows {@code ACL SETUSER <user> on >password} (or {@code user <name> on >password} in an ACL file). */
  public static final String RULE = "resetkeys ~{tso:*}:* resetchannels &{tso:*}:events -@all"
      + " +evalsha +eval +type +get +set +del +pttl +dump +info +publish +subscribe +wait +select";

  private RedisAcl() {
  }

  /** {@link #RULE} as the separate arguments {@code ACL SETUSER} takes. */
  public static List<String> rules() {
    return List.of(RULE.split(" "));
  }
}
