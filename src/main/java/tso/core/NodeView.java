package tso.core;

/**
 * What the transports may ask about this node's role; standalone now, the election later.
 */
public interface NodeView {

  /** leader, follower, candidate or standalone. */
  String role();

  String nodeId();

  /** This node's fencing token (0 when it has none). */
  long epoch();

  /** The serving member, or null when none is known. */
  Member leader();

  /** True when this node can answer a timestamp request now, itself or by forwarding. */
  boolean ready();

  /** A member as clients reach it. */
  record Member(String nodeId, String address, long epoch) {
  }
}
