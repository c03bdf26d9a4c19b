package tso.support;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Certificates made at test time with BouncyCastle, written as PEM files: a CA, and leaf
 * certificates it signs for servers (names and IP addresses in the subject alternative name) and
 * clients. A second CA stands for everything the nodes must not trust.
 */
public final class Certs {

  private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());

  /** A CA: its certificate (PEM) and what it needs to sign. */
  public static final class Ca {
    public final Path cert;
    final X509Certificate certificate;
    final PrivateKey key;
    final String name;

    Ca(Path cert, X509Certificate certificate, PrivateKey key, String name) {
      this.cert = cert;
      this.certificate = certificate;
      this.key = key;
      this.name = name;
    }

    /** A certificate for a server reachable as any of {@code names} (DNS names or IP addresses). */
    public Leaf server(Path dir, String file, String... names) throws Exception {
      return leaf(this, dir, file, KeyPurposeId.id_kp_serverAuth, names);
    }

    /** A client certificate, named {@code cn}. */
    public Leaf client(Path dir, String file, String cn) throws Exception {
      return leaf(this, dir, file, KeyPurposeId.id_kp_clientAuth, new String[] {cn});
    }

    /** A member's certificate: it serves and also connects to other members. */
    public Leaf member(Path dir, String file, String... names) throws Exception {
      return leaf(this, dir, file, null, names);
    }
  }

  /** A leaf: its chain and its PKCS#8 key, as PEM files. */
  public record Leaf(Path cert, Path key) {
  }

  private Certs() {
  }

  public static Ca ca(Path dir, String name) throws Exception {
    Files.createDirectories(dir);
    KeyPair kp = keyPair();
    X500Name subject = new X500Name("CN=" + name);
    Instant now = Instant.now();
    JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, BigInteger.valueOf(SERIAL.incrementAndGet()),
        Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(30))), subject, kp.getPublic());
    b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
    b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
    X509Certificate c = sign(b, kp.getPrivate());
    Path file = dir.resolve(name + "-ca.pem");
    Files.writeString(file, pem(c));
    return new Ca(file, c, kp.getPrivate(), name);
  }

  private static Leaf leaf(Ca ca, Path dir, String file, KeyPurposeId purpose, String[] names) throws Exception {
    Files.createDirectories(dir);
    KeyPair kp = keyPair();
    Instant now = Instant.now();
    JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(ca.certificate,
        BigInteger.valueOf(SERIAL.incrementAndGet()), Date.from(now.minus(Duration.ofHours(1))),
        Date.from(now.plus(Duration.ofDays(30))), new X500Name("CN=" + names[0]), kp.getPublic());
    GeneralName[] alt = new GeneralName[names.length];
    for (int i = 0; i < names.length; i++) {
      alt[i] = new GeneralName(names[i].matches("[0-9.]+|.*:.*") ? GeneralName.iPAddress : GeneralName.dNSName, names[i]);
    }
    b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(alt));
    b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
    b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
    b.addExtension(Extension.extendedKeyUsage, false, purpose == null
        ? new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth})
        : new ExtendedKeyUsage(purpose));
    X509Certificate c = sign(b, ca.key);
    Path certFile = dir.resolve(file + ".pem");
    Path keyFile = dir.resolve(file + "-key.pem");
    Files.writeString(certFile, pem(c));
    Files.writeString(keyFile, pkcs8(kp.getPrivate()));
    return new Leaf(certFile, keyFile);
  }

  private static KeyPair keyPair() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
    g.initialize(2048);
    return g.generateKeyPair();
  }

  private static X509Certificate sign(JcaX509v3CertificateBuilder b, PrivateKey by) throws Exception {
    return new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder("SHA256withRSA").build(by)));
  }

  private static String pem(Object o) throws IOException {
    StringWriter w = new StringWriter();
    try (JcaPEMWriter p = new JcaPEMWriter(w)) {
      p.writeObject(o);
    }
    return w.toString();
  }

  private static String pkcs8(PrivateKey key) throws IOException {
    StringWriter w = new StringWriter();
    try (JcaPEMWriter p = new JcaPEMWriter(w)) {
      p.writeObject(new JcaPKCS8Generator(key, null));
    }
    return w.toString();
  }
}
