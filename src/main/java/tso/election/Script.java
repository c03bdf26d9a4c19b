package tso.election;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * One election script: {@code common.lua} followed by its own body, and the SHA-1 that
 * {@code EVALSHA} names it by. EVAL/EVALSHA rather than FUNCTION, so Redis 6.2 works too.
 */
public enum Script {
  CAMPAIGN("campaign.lua"),
  RENEW("renew.lua"),
  RESIGN("resign.lua"),
  FENCE("fence.lua"),
  INSPECT("inspect.lua"),
  TAKEOVER("takeover.lua");

  public final String source;
  public final String sha1;

  Script(String file) {
    this.source = read("common.lua") + "\n" + read(file);
    try {
      this.sha1 = HexFormat.of().formatHex(
          MessageDigest.getInstance("SHA-1").digest(source.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String read(String file) {
    try (InputStream in = Script.class.getResourceAsStream("/tso/election/" + file)) {
      if (in == null) {
        throw new IllegalStateException("missing script " + file);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
