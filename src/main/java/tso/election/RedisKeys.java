package tso.election;

/**
 * The Redis keys of one cluster, as the contract names them. The hash tag keeps them in one
 * Redis Cluster slot, so every script can touch them all.
 */
public record RedisKeys(String leader, String epoch, String limit, String transitions, String grant, String released,
    String events) {

  public static RedisKeys of(String cluster) {
    String p = "{tso:" + cluster + "}:";
    return new RedisKeys(p + "leader", p + "epoch", p + "limit", p + "transitions", p + "grant", p + "released",
        p + "events");
  }
}
