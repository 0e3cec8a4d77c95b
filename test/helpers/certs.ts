// Test certificates made by Debian's openssl CLI in a temp dir: a CA, and leaves it signs.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface IssuedCertificate {
  /** Path of the leaf certificate (PEM). */
  cert: string;
  /** Path of its private key (PEM). */
  key: string;
  /** The certificate's PEM text. */
  pem: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A throwaway certificate authority in its own temp dir. */
export class TestCa {
  readonly dir: string;
  /** The CA certificate's path, for clients' trust (curl --cacert, Node's ca). */
  readonly caFile: string;
  readonly caPem: string;
  private serial = 0;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "divisor-certs-"));
    openssl(
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "3", "-subj", "/CN=Divisor Test CA"],
      this.dir,
    );
    this.caFile = join(this.dir, "ca.pem");
    this.caPem = readFileSync(this.caFile, "utf8");
  }

  /**
   * A leaf for `names` (subjectAltName DNS entries; none when empty, with `cn` as the
   * subject), written as `<file>.pem` and `<file>.key` (overwritten when they exist).
   */
  issue(names: string[], file = `leaf${++this.serial}`, cn = names[0] ?? "no-san", ips: string[] = []): IssuedCertificate {
    const cert = join(this.dir, `${file}.pem`);
    const key = join(this.dir, `${file}.key`);
    const ext = join(this.dir, `${file}.ext`);
    const sans = [...names.map((n) => `DNS:${n}`), ...ips.map((ip) => `IP:${ip}`)];
    writeFileSync(ext, sans.length > 0 ? `subjectAltName=${sans.join(",")}\n` : "basicConstraints=CA:FALSE\n");
    openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${file}.key.new`, "-out", `${file}.csr`, "-subj", `/CN=${cn}`], this.dir);
    openssl(["x509", "-req", "-in", `${file}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", `${file}.pem.new`, "-extfile", `${file}.ext`], this.dir);
    // Written into place after both exist, as a certificate manager would.
    writeFileSync(key, readFileSync(`${key}.new`));
    writeFileSync(cert, readFileSync(`${cert}.new`));
    return { cert, key, pem: readFileSync(cert, "utf8") };
  }

  /** A DER OCSP response saying `leaf` is good, signed by the CA. */
  ocspResponse(leaf: IssuedCertificate, file: string): string {
    writeFileSync(join(this.dir, "index.txt"), "");
    openssl(["ocsp", "-issuer", "ca.pem", "-cert", leaf.cert, "-reqout", `${file}.req`, "-no_nonce"], this.dir);
    // An empty index knows no certificate: the answer is "unknown", which still is a signed response to staple.
    openssl(["ocsp", "-index", "index.txt", "-rsigner", "ca.pem", "-rkey", "ca.key", "-CA", "ca.pem", "-reqin", `${file}.req`, "-respout", file, "-ndays", "1"], this.dir);
    return join(this.dir, file);
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
