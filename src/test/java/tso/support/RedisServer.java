package tso.support;

import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.JarURLConnection;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * A real {@code redis-server} process on a loopback port, for tests that kill (SIGKILL), pause
 * (SIGSTOP/SIGCONT), restart (empty) and corrupt it.
 *
 * <p>Started with {@code --bind 127.0.0.1 --save "" --appendonly no --daemonize no} (no
 * persistence: a restart is always empty) plus the caller's arguments, in a temporary directory
 * that also holds its log. {@link #start} returns once it answers PING.
 *
 * <p>{@link #start(Map, String...)} adds variables to its environment (LD_PRELOAD for
 * {@link ClockShift}, say); a restart keeps them.
 *
 * <p>{@link #startTls} starts one that speaks TLS only ({@code --port 0 --tls-port ...}); {@link
 * #url()} is then {@code rediss://}. This object's own commands ({@link #command}, {@link #raw},
 * {@link #connect}) still go as plain RESP to a loopback port of this JVM that relays them over
 * TLS, so every helper works alike. {@link #aclUser} and {@link #aclLog} manage ACL users.
 *
 * <p>The binary, in order: system property {@value #BINARY_PROPERTY} (a path); the one shipped in
 * the {@code com.github.codemonstur:embedded-redis} test jar if {@value #FROM_JAR_PROPERTY} is
 * {@code true}; {@code redis-server} on PATH; else the jar's one (Redis 6.2, Linux/macOS only),
 * extracted once per JVM to a temporary file.
 *
 * <p>No process is left behind: {@link #close} SIGKILLs it, a shutdown hook SIGKILLs whatever is
 * still running when the JVM exits, and processes whose test JVM died without running its hooks
 * (SIGKILLed by a timeout, say) are reaped by the next JVM that starts one, identified by pid and
 * start time from a record under {@code java.io.tmpdir}.
 */
public final class RedisServer implements AutoCloseable {

  /** Path of the redis-server binary to use. */
  public static final String BINARY_PROPERTY = "tso.test.redisServer";
  /** {@code true}: use the binary from the embedded-redis jar even when PATH has one. */
  public static final String FROM_JAR_PROPERTY = "tso.test.redisFromJar";

  private static final Duration START_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(5);
  private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();
  private static final Path OWNERS = Path.of(System.getProperty("java.io.tmpdir"), "tso-test-redis-owners");
  private static Path jarBinary;
  private static boolean reaped;

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      for (Process p : LIVE) {
        p.destroyForcibly();
      }
      for (Process p : LIVE) {
        try {
          p.waitFor(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          return;
        }
        deleteOwnerRecord(p.pid());
      }
    }, "redis-server-reaper"));
  }

  /**
   * Redis over TLS only: the server's certificate chain and key, the CA bundle it trusts for client
   * certificates, {@code tls-auth-clients} ({@code yes}: clients must present a certificate;
   * {@code optional}: they may), and the certificate and key this object's own link presents (null
   * for none). This object's link trusts {@code ca} for the server's certificate.
   */
  public record Tls(Path cert, Path key, Path ca, String authClients, Path clientCert, Path clientKey) {
  }

  /** The binary was built without TLS: {@code --tls-port} is unknown or refused. */
  public static final class TlsUnsupportedException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    TlsUnsupportedException(String message) {
      super(message);
    }
  }

  private final Path binary;
  private final int port;
  private final List<String> extraArgs;
  private final Map<String, String> env;
  private final Path dir;
  private final Tls tls;
  private TlsRelay relay;
  private Process process;
  private boolean paused;
  private int starts;

  private RedisServer(Path binary, int port, List<String> extraArgs, Map<String, String> env, Path dir, Tls tls) {
    this.binary = binary;
    this.port = port;
    this.extraArgs = extraArgs;
    this.env = env;
    this.dir = dir;
    this.tls = tls;
  }

  /** Starts one on a free port with {@link #binary()}. */
  public static RedisServer start(String... extraArgs) {
    return start(binary(), 0, extraArgs);
  }

  /** Starts one on the given port (0: a free one) with {@link #binary()}. */
  public static RedisServer start(int port, String... extraArgs) {
    return start(binary(), port, extraArgs);
  }

  /** Starts one with the given binary on the given port (0: a free one). */
  public static RedisServer start(Path binary, int port, String... extraArgs) {
    return start(binary, port, Map.of(), extraArgs);
  }

  /**
   * Starts one on a free port with {@link #binary()}, with {@code env} added to the environment
   * it inherits from this JVM; {@link #restartEmpty()} starts the new process with it too.
   */
  public static RedisServer start(Map<String, String> env, String... extraArgs) {
    return start(binary(), 0, env, extraArgs);
  }

  /** As {@link #start(Map, String...)} with the given binary on the given port (0: a free one). */
  public static RedisServer start(Path binary, int port, Map<String, String> env, String... extraArgs) {
    return start(binary, port, env, null, extraArgs);
  }

  /**
   * Starts one with {@link #binary()} on a free port that speaks TLS only. Throws {@link
   * TlsUnsupportedException} when the binary has no TLS.
   */
  public static RedisServer startTls(Tls tls, String... extraArgs) {
    return startTls(binary(), tls, extraArgs);
  }

  /** As {@link #startTls(Tls, String...)} with the given binary. */
  public static RedisServer startTls(Path binary, Tls tls, String... extraArgs) {
    return start(binary, 0, Map.of(), tls, extraArgs);
  }

  private static RedisServer start(Path binary, int port, Map<String, String> env, Tls tls, String... extraArgs) {
    Map<String, String> environment = Map.copyOf(env);
    reapOrphans();
    int attempts = port == 0 ? 5 : 1;
    RuntimeException last = null;
    for (int i = 0; i < attempts; i++) {
      Path dir;
      try {
        dir = Files.createTempDirectory("tso-redis-");
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      RedisServer server = new RedisServer(binary, port == 0 ? Ports.free() : port, List.of(extraArgs),
          environment, dir, tls);
      try {
        server.launch();
        return server;
      } catch (PortTakenException e) {
        // Someone took the port between Ports.free() and redis binding it: another one.
        server.close();
        last = e;
      } catch (RuntimeException | Error e) {
        server.close();
        throw e;
      }
    }
    throw last;
  }

  // ---------------------------------------------------------------------------------------------
  // Which binary

  /** The binary {@link #start} uses; see the class comment for the order. */
  public static synchronized Path binary() {
    String explicit = System.getProperty(BINARY_PROPERTY, "");
    if (!explicit.isBlank()) {
      return Path.of(explicit);
    }
    if (Boolean.getBoolean(FROM_JAR_PROPERTY)) {
      return binaryFromJar();
    }
    return binaryOnPath().orElseGet(RedisServer::binaryFromJar);
  }

  /** {@code redis-server} on PATH, if any. */
  public static Optional<Path> binaryOnPath() {
    String path = System.getenv("PATH");
    if (path == null) {
      return Optional.empty();
    }
    for (String d : path.split(Pattern.quote(File.pathSeparator))) {
      if (d.isEmpty()) {
        continue;
      }
      Path p = Path.of(d, "redis-server");
      if (Files.isRegularFile(p) && Files.isExecutable(p)) {
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }

  /**
   * The redis-server the embedded-redis jar (test scope) ships for this OS and architecture,
   * extracted once per JVM to an executable temporary file. The jar keeps them at its root as
   * {@code redis-server-VERSION-OS-ARCH}, e.g. {@code redis-server-6.2.6-v5-linux-amd64}.
   */
  public static synchronized Path binaryFromJar() {
    if (jarBinary != null && Files.isExecutable(jarBinary)) {
      return jarBinary;
    }
    String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
    String osPart = os.contains("linux") ? "linux" : os.contains("mac") ? "darwin" : null;
    String archPart = switch (arch) {
      case "amd64", "x86_64" -> "amd64";
      case "aarch64", "arm64" -> "arm64";
      case "x86", "i386", "i486", "i586", "i686" -> "386";
      default -> null;
    };
    if (osPart == null || archPart == null) {
      throw new IllegalStateException("no redis-server on PATH and the embedded-redis jar has none for "
          + os + "/" + arch + ": install redis-server or set -D" + BINARY_PROPERTY);
    }
    Pattern name = Pattern.compile("redis-server-[^/]+-" + osPart + "-" + archPart);
    URL marker = RedisServer.class.getClassLoader().getResource("redis/embedded/RedisServer.class");
    if (marker == null) {
      throw new IllegalStateException("no redis-server on PATH and com.github.codemonstur:embedded-redis"
          + " is not on the test class path");
    }
    try {
      JarURLConnection conn = (JarURLConnection) marker.openConnection();
      conn.setUseCaches(false);
      try (JarFile jar = conn.getJarFile()) {
        JarEntry entry = jar.stream()
            .filter(e -> name.matcher(e.getName()).matches())
            .max(Comparator.comparing(JarEntry::getName))
            .orElseThrow(() -> new IllegalStateException(jar.getName() + " has no " + name));
        Path out = Files.createTempFile("tso-" + entry.getName() + "-", "");
        out.toFile().deleteOnExit();
        try (InputStream in = jar.getInputStream(entry)) {
          Files.copy(in, out, StandardCopyOption.REPLACE_EXISTING);
        }
        if (!out.toFile().setExecutable(true, true)) {
          throw new IOException("cannot make " + out + " executable");
        }
        jarBinary = out;
        return out;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("extracting redis-server from " + marker, e);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Life cycle

  private static final class PortTakenException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    PortTakenException(String message) {
      super(message);
    }
  }

  private synchronized void launch() {
    List<String> cmd = new ArrayList<>(List.of(binary.toString()));
    if (tls == null) {
      cmd.addAll(List.of("--port", Integer.toString(port)));
    } else {
      cmd.addAll(List.of("--port", "0", "--tls-port", Integer.toString(port),
          "--tls-cert-file", tls.cert().toString(), "--tls-key-file", tls.key().toString(),
          "--tls-ca-cert-file", tls.ca().toString(), "--tls-auth-clients", tls.authClients()));
      if (relay == null || relay.closed()) {
        relay = new TlsRelay(sslContext(tls), port);
      }
    }
    cmd.addAll(List.of(
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--dir", dir.toString()));
    cmd.addAll(extraArgs);
    Path log = log();
    try {
      Files.createDirectories(dir); // gone if closed before: a restart after close still works
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().putAll(env);
    Process p = null;
    for (int attempt = 0; p == null; attempt++) {
      try {
        p = pb.start();
      } catch (IOException e) {
        // ETXTBSY: a fork elsewhere in this JVM still held the just-extracted binary open for writing.
        if (attempt >= 50 || !String.valueOf(e.getMessage()).contains("Text file busy")) {
          throw new UncheckedIOException("starting " + cmd, e);
        }
        pollPause();
      }
    }
    process = p;
    paused = false;
    starts++;
    LIVE.add(p);
    writeOwnerRecord(p);
    awaitPing(p);
  }

  private void awaitPing(Process p) {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (true) {
      if (!p.isAlive()) {
        forget(p);
        String out = output();
        if (out.contains("Address already in use")) {
          throw new PortTakenException("port " + port + " is taken: " + out);
        }
        if (tls != null && out.toLowerCase(Locale.ROOT).contains("tls")
            && Pattern.compile("(?is).*(bad directive|not supported|unsupported|not compiled|unknown option).*")
                .matcher(out).matches()) {
          throw new TlsUnsupportedException(binary + " has no TLS: " + out);
        }
        throw new IllegalStateException("redis-server exited with " + p.exitValue() + ": " + out);
      }
      try {
        Resp.Reply r = Resp.call(adminPort(), Duration.ofMillis(tls == null ? 100 : 1000), "PING");
        if ("PONG".equals(r.text())) {
          return;
        }
      } catch (UncheckedIOException e) {
        // not listening yet
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("redis-server did not answer PING on port " + port + " within "
            + START_TIMEOUT.toSeconds() + " s: " + output());
      }
      pollPause();
    }
  }

  /** The pause between two polls of a bounded wait. */
  private static void pollPause() {
    try {
      Thread.sleep(1);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** SIGKILL, and waits for it to be gone. Also works while paused. */
  public synchronized void kill9() {
    Process p = process;
    if (p == null) {
      return;
    }
    p.destroyForcibly();
    try {
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        throw new IllegalStateException("redis-server " + p.pid() + " survived SIGKILL for 10 s");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
    forget(p);
    paused = false;
  }

  /** SIGTERM (after SIGCONT, if paused), waiting up to 5 s before SIGKILL. */
  public synchronized void stop() {
    Process p = process;
    if (p == null) {
      return;
    }
    if (paused) {
      resume();
    }
    p.destroy();
    try {
      p.waitFor(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    kill9();
  }

  /** SIGKILL if running, then a fresh, empty redis-server on the same port with the same arguments. */
  public synchronized void restartEmpty() {
    kill9();
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (true) {
      try {
        launch();
        return;
      } catch (PortTakenException e) {
        // Still held (a lingering socket, or someone else took it): bounded retry.
        if (System.nanoTime() > deadline) {
          throw e;
        }
        pollPause();
      }
    }
  }

  /** SIGSTOP: the process keeps its port (the kernel still accepts connections) but answers nothing. */
  public synchronized void pause() {
    signal("STOP");
    awaitState(true);
    paused = true;
  }

  /** SIGCONT after {@link #pause()}. */
  public synchronized void resume() {
    signal("CONT");
    awaitState(false);
    paused = false;
  }

  public synchronized boolean isPaused() {
    return paused;
  }

  public synchronized boolean isAlive() {
    return process != null && process.isAlive();
  }

  /** The current process's pid (it changes on restart). */
  public synchronized long pid() {
    return running().pid();
  }

  /** How many processes this object has started (1 + restarts). */
  public synchronized int starts() {
    return starts;
  }

  private Process running() {
    if (process == null || !process.isAlive()) {
      throw new IllegalStateException("redis-server on port " + port + " is not running");
    }
    return process;
  }

  private void signal(String sig) {
    long pid = running().pid();
    try {
      // sh's built-in kill: no dependency on procps.
      Process k = new ProcessBuilder("sh", "-c", "kill -" + sig + " " + pid).redirectErrorStream(true).start();
      if (!k.waitFor(10, TimeUnit.SECONDS) || k.exitValue() != 0) {
        throw new IllegalStateException("kill -" + sig + " " + pid + " failed: "
            + new String(k.getInputStream().readAllBytes()));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Waits (bounded) until /proc says the process is stopped, or no longer is. No-op without /proc. */
  private void awaitState(boolean stopped) {
    Path stat = Path.of("/proc", Long.toString(running().pid()), "stat");
    if (!Files.exists(stat)) {
      return;
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (true) {
      String s;
      try {
        s = Files.readString(stat);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      // "pid (comm) S ...": the state follows the last ')'.
      char state = s.charAt(s.lastIndexOf(')') + 2);
      boolean isStopped = state == 'T' || state == 't';
      if (isStopped == stopped) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("redis-server " + running().pid() + " is in state " + state
            + ", expected " + (stopped ? "stopped" : "running"));
      }
      pollPause();
    }
  }

  /** SIGKILL and removes the temporary directory. */
  @Override
  public synchronized void close() {
    kill9();
    if (relay != null) {
      relay.close();
    }
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    } catch (IOException e) {
      // best effort
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Talking to it

  /** The port Redis listens on (TLS only after {@link #startTls}). */
  public int port() {
    return port;
  }

  /** {@code redis://127.0.0.1:port}, or {@code rediss://…} after {@link #startTls}. */
  public String url() {
    return (tls == null ? "redis" : "rediss") + "://127.0.0.1:" + port;
  }

  /** True when it speaks TLS only. */
  public boolean tls() {
    return tls != null;
  }

  /** Where this object's commands go: {@link #port()}, or the plain end of the TLS relay. */
  private synchronized int adminPort() {
    return tls == null ? port : relay.port();
  }

  /** The variables added to the environment of every process this object starts. */
  public Map<String, String> env() {
    return env;
  }

  /** The binary this one runs. */
  public Path binaryPath() {
    return binary;
  }

  /** A command's reply as text (see {@link Resp#text}); an error reply is thrown as {@link Resp.RedisError}. */
  public String command(String... args) {
    return Resp.text(raw(args));
  }

  /** A command's reply as Redis sent it (errors included), on a new connection, 5 s timeout. */
  public Resp.Reply raw(String... args) {
    return Resp.call(adminPort(), COMMAND_TIMEOUT, args);
  }

  /** As {@link #raw(String...)} with a timeout: a timeout is thrown as {@link UncheckedIOException}. */
  public Resp.Reply raw(Duration timeout, String... args) {
    return Resp.call(adminPort(), timeout, args);
  }

  /** Binary arguments, for values that are not UTF-8 text. */
  public Resp.Reply raw(Duration timeout, byte[]... args) {
    return Resp.call(adminPort(), timeout, args);
  }

  /** A connection kept open; the caller closes it. */
  public Resp.Connection connect() {
    return Resp.Connection.open(adminPort(), COMMAND_TIMEOUT);
  }

  /**
   * Creates ACL user {@code name}, or replaces every rule it had: {@code ACL SETUSER name reset
   * on >password} then {@code rules} (each word one argument), as one command.
   */
  public void aclUser(String name, String password, Collection<String> rules) {
    List<String> args = new ArrayList<>(List.of("ACL", "SETUSER", name, "reset", "on", ">" + password));
    for (String r : rules) {
      args.addAll(List.of(r.trim().split("\\s+")));
    }
    command(args.toArray(String[]::new));
  }

  /** {@code ACL LOG}: the denials Redis recorded, newest first, each entry's fields by name. */
  public List<Map<String, String>> aclLog() {
    Resp.Reply reply = raw("ACL", "LOG");
    Resp.text(reply); // throws an error reply
    List<Map<String, String>> entries = new ArrayList<>();
    for (Resp.Reply entry : ((Resp.Array) reply).items()) {
      List<Resp.Reply> kv = ((Resp.Array) entry).items();
      Map<String, String> fields = new LinkedHashMap<>();
      for (int i = 0; i + 1 < kv.size(); i += 2) {
        fields.put(kv.get(i).text(), kv.get(i + 1).text());
      }
      entries.add(fields);
    }
    return entries;
  }

  /** {@code redis_version} from INFO, e.g. {@code 7.0.15}. */
  public String version() {
    for (String line : command("INFO", "server").split("\r\n")) {
      if (line.startsWith("redis_version:")) {
        return line.substring("redis_version:".length()).trim();
      }
    }
    throw new IllegalStateException("no redis_version in INFO server");
  }

  /** The log file (stdout and stderr of every process this object started). */
  public Path log() {
    return dir.resolve("redis.log");
  }

  public String output() {
    try {
      return Files.exists(log()) ? Files.readString(log()) : "(no output)";
    } catch (IOException e) {
      return "(no output: " + e + ")";
    }
  }

  @Override
  public String toString() {
    return "RedisServer[" + url() + ", " + binary + "]";
  }

  // ---------------------------------------------------------------------------------------------
  // TLS: this object's own link

  /** Trusts {@code tls.ca()}; presents {@code tls.clientCert()} when set. */
  private static SSLContext sslContext(Tls tls) {
    try {
      CertificateFactory x509 = CertificateFactory.getInstance("X.509");
      KeyStore trust = KeyStore.getInstance("PKCS12");
      trust.load(null, null);
      int i = 0;
      for (Certificate c : x509.generateCertificates(new ByteArrayInputStream(Files.readAllBytes(tls.ca())))) {
        trust.setCertificateEntry("ca" + i++, c);
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trust);
      KeyManagerFactory kmf = null;
      if (tls.clientCert() != null) {
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        Certificate[] chain = x509.generateCertificates(new ByteArrayInputStream(Files.readAllBytes(tls.clientCert())))
            .toArray(Certificate[]::new);
        keys.setKeyEntry("client", privateKey(tls.clientKey()), new char[0], chain);
        kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, new char[0]);
      }
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
      return ctx;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("TLS files for redis-server: " + e, e);
    }
  }

  /** A PEM PKCS#8 key (RSA or EC). */
  private static PrivateKey privateKey(Path pem) throws IOException, GeneralSecurityException {
    String b64 = Files.readString(pem).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
    PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(Base64.getDecoder().decode(b64));
    try {
      return KeyFactory.getInstance("RSA").generatePrivate(spec);
    } catch (GeneralSecurityException e) {
      return KeyFactory.getInstance("EC").generatePrivate(spec);
    }
  }

  /**
   * A loopback port of this JVM whose connections are relayed, each over its own TLS connection,
   * to Redis's TLS port: {@link Resp} speaks plain TCP only. A connection that cannot reach Redis
   * (down, restarting) is closed at once, as a refused one would be.
   */
  private static final class TlsRelay implements AutoCloseable {
    private final SSLContext ctx;
    private final int target;
    private final ServerSocket server;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();

    TlsRelay(SSLContext ctx, int target) {
      this.ctx = ctx;
      this.target = target;
      try {
        server = new ServerSocket(0, 64, InetAddress.getLoopbackAddress());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      Thread t = new Thread(this::accept, "redis-tls-relay-" + target);
      t.setDaemon(true);
      t.start();
    }

    int port() {
      return server.getLocalPort();
    }

    boolean closed() {
      return server.isClosed();
    }

    private void accept() {
      while (!server.isClosed()) {
        Socket plain;
        try {
          plain = server.accept();
        } catch (IOException e) {
          return;
        }
        open.add(plain);
        Thread t = new Thread(() -> relay(plain), "redis-tls-relay-" + target + "-conn");
        t.setDaemon(true);
        t.start();
      }
    }

    private void relay(Socket plain) {
      SSLSocket secure = null;
      try {
        plain.setTcpNoDelay(true);
        secure = (SSLSocket) ctx.getSocketFactory().createSocket();
        open.add(secure);
        secure.setTcpNoDelay(true);
        secure.connect(new InetSocketAddress("127.0.0.1", target), (int) COMMAND_TIMEOUT.toMillis());
        secure.setSoTimeout((int) COMMAND_TIMEOUT.toMillis());
        secure.startHandshake();
        secure.setSoTimeout(0);
        SSLSocket s = secure;
        Thread up = new Thread(() -> pump(plain, s), "redis-tls-relay-" + target + "-up");
        up.setDaemon(true);
        up.start();
        pump(secure, plain);
      } catch (IOException e) {
        // Redis down, or the handshake failed: the caller sees its connection closed
      } finally {
        closeQuietly(plain);
        closeQuietly(secure);
      }
    }

    private void pump(Socket from, Socket to) {
      byte[] buf = new byte[16384];
      try {
        InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream();
        for (int n; (n = in.read(buf)) >= 0; ) {
          out.write(buf, 0, n);
          out.flush();
        }
      } catch (IOException e) {
        // either side gone
      } finally {
        closeQuietly(from);
        closeQuietly(to);
      }
    }

    private void closeQuietly(Socket s) {
      if (s == null) {
        return;
      }
      open.remove(s);
      try {
        s.close();
      } catch (IOException e) {
        // best effort
      }
    }

    @Override
    public void close() {
      try {
        server.close();
      } catch (IOException e) {
        // best effort
      }
      for (Socket s : open) {
        closeQuietly(s);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Orphans: processes whose JVM died without running its shutdown hooks

  private static void forget(Process p) {
    LIVE.remove(p);
    deleteOwnerRecord(p.pid());
  }

  private static void writeOwnerRecord(Process p) {
    try {
      Files.createDirectories(OWNERS);
      ProcessHandle self = ProcessHandle.current();
      Files.writeString(OWNERS.resolve(Long.toString(p.pid())),
          startMillis(p.toHandle()) + " " + self.pid() + " " + startMillis(self) + "\n");
    } catch (IOException e) {
      // best effort: the shutdown hook still covers a normal exit
    }
  }

  private static void deleteOwnerRecord(long pid) {
    try {
      Files.deleteIfExists(OWNERS.resolve(Long.toString(pid)));
    } catch (IOException e) {
      // best effort
    }
  }

  private static long startMillis(ProcessHandle h) {
    return h.info().startInstant().map(Instant::toEpochMilli).orElse(-1L);
  }

  /** SIGKILLs redis-servers recorded by test JVMs that are gone; once per JVM. */
  private static synchronized void reapOrphans() {
    if (reaped) {
      return;
    }
    reaped = true;
    if (!Files.isDirectory(OWNERS)) {
      return;
    }
    try (Stream<Path> records = Files.list(OWNERS)) {
      for (Path record : (Iterable<Path>) records::iterator) {
        try {
          long pid = Long.parseLong(record.getFileName().toString());
          String[] f = Files.readString(record).trim().split(" ");
          long start = Long.parseLong(f[0]);
          long owner = Long.parseLong(f[1]);
          long ownerStart = Long.parseLong(f[2]);
          boolean ownerAlive = ProcessHandle.of(owner)
              .filter(h -> h.isAlive() && startMillis(h) == ownerStart).isPresent();
          if (ownerAlive) {
            continue;
          }
          ProcessHandle.of(pid).filter(h -> h.isAlive() && start != -1 && startMillis(h) == start)
              .ifPresent(ProcessHandle::destroyForcibly);
          Files.deleteIfExists(record);
        } catch (IOException | RuntimeException e) {
          // a record being written, or not ours: leave it
        }
      }
    } catch (IOException e) {
      // best effort
    }
  }
}
