package tso.election;

import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * Who this node is in elections: its id, the address others reach it at, and an incarnation
 * drawn at random at every start, so a restarted node never takes its old record for its own.
 */
public record Identity(String node, String address, String incarnation) {

  public static Identity create(String node, String address) {
    byte[] b = new byte[8];
    new SecureRandom().nextBytes(b);
    return new Identity(node, address, HexFormat.of().formatHex(b));
  }
}
