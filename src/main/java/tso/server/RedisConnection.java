package tso.server;

import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.redis.client.RedisClientType;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.RedisRole;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import tso.config.Config;
import tso.config.Security;

/**
 * How a node connects to Redis: standalone, or the master that Sentinel names; TLS for
 * {@code rediss://} URLs; the user and password.
 *
 * <p>TLS: TLS 1.2 or 1.3, the server's certificate checked against TSO_REDIS_CA (else the JDK's
 * trust store) and against the host name or address in the URL; a client certificate when
 * TSO_REDIS_CERT and TSO_REDIS_KEY are set (for {@code tls-auth-clients yes}).
 *
 * <p>Credentials: the user and password of {@code [user][:password]@} in the URL (percent-encoded,
 * as in any URL); with Sentinel, those of the first URL that has any, for the sentinels and the
 * master alike. TSO_REDIS_PASSWORD_FILE's password wins over the URL's; a user in the URL is kept
 * ({@code rediss://tso@host} with the file: user tso, the file's password). The client is handed
 * the URLs without their credentials, and these through {@link RedisOptions#setUser} and
 * {@link RedisOptions#setPassword}: a URL it cannot parse then never shows a password in an error.
 */
public final class RedisConnection {

  private RedisConnection() {
  }

  /** The client options for {@code config}'s Redis (which must be set). */
  public static RedisOptions options(Config config) {
    String[] given = config.sentinelMaster() == null ? new String[] {config.redisUrl()} : config.redisUrl().split(",");
    List<String> urls = new ArrayList<>();
    String credentials = null;
    for (String url : given) {
      url = url.trim();
      int scheme = url.indexOf("://");
      int at = url.lastIndexOf('@');
      if (scheme >= 0 && at > scheme) {
        if (credentials == null) {
          credentials = url.substring(scheme + 3, at);
        }
        url = url.substring(0, scheme + 3) + url.substring(at + 1);
      }
      urls.add(url);
    }
    NetClientOptions net = new NetClientOptions().setConnectTimeout((int) Math.max(100, config.leaseTtlMs()))
        .setTcpKeepAlive(true).setTcpNoDelay(true);
    if (urls.stream().anyMatch(u -> u.startsWith("rediss://"))) {
      tls(net, config.security());
    }
    RedisOptions o = new RedisOptions()
        .setMaxPoolSize(8)
        .setMaxPoolWaiting(256)
        .setNetClientOptions(net);
    String password = null;
    if (credentials != null) {
      int colon = credentials.indexOf(':');
      String user = decode(colon < 0 ? credentials : credentials.substring(0, colon));
      if (!user.isEmpty()) {
        o.setUser(user);
      }
      password = colon < 0 ? null : decode(credentials.substring(colon + 1));
    }
    if (config.security().redisPassword() != null) {
      password = config.security().redisPassword();
    }
    if (password != null) {
      o.setPassword(password);
    }
    if (config.sentinelMaster() == null) {
      return o.setType(RedisClientType.STANDALONE).setConnectionString(urls.get(0));
    }
    o.setType(RedisClientType.SENTINEL).setMasterName(config.sentinelMaster()).setRole(RedisRole.MASTER);
    for (String s : urls) {
      o.addConnectionString(s);
    }
    return o;
  }

  private static void tls(NetClientOptions net, Security s) {
    net.setSsl(true).setHostnameVerificationAlgorithm("HTTPS").setEnabledSecureTransportProtocols(Tls.PROTOCOLS);
    if (s.redisCa() != null) {
      net.setTrustOptions(new PemTrustOptions().addCertPath(s.redisCa().toString()));
    }
    if (s.redisCert() != null) {
      net.setKeyCertOptions(new PemKeyCertOptions().setCertPath(s.redisCert().toString())
          .setKeyPath(s.redisKey().toString()));
    }
  }

  /** Percent-decoded as the Vert.x client decodes a URL's credentials; as given when that fails. */
  private static String decode(String s) {
    try {
      return URLDecoder.decode(s, StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) { // not passed on: its message quotes the text
      return s;
    }
  }
}
