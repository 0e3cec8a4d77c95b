/**
 * TLS Secrets → certificate files the HTTPS listeners load. Each Secret's tls.crt and
 * tls.key are written (mode 0600, in a private 0700 directory, replaced atomically by
 * rename) so the configuration names only paths — no key material in the merged
 * configuration, its logs or the admin API — and the listener's file watching reloads
 * a rotated certificate without a restart.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CertificateInput } from "../types.js";
import type { Secret } from "./objects.js";
import type { TlsSecretUse } from "./snapshot.js";

export class TlsSecretFiles {
  readonly dir: string;
  private readonly written = new Map<string, string>();

  constructor(parent = tmpdir()) {
    this.dir = mkdtempSync(join(parent, "divisor-k8s-tls-"));
  }

  /** Write what `uses` needs (unchanged files are left alone), remove the rest; the certificates to serve. */
  sync(uses: readonly TlsSecretUse[], secrets: ReadonlyMap<string, Secret>): CertificateInput[] {
    const out: CertificateInput[] = [];
    const keep = new Set<string>();
    for (const use of uses) {
      const secret = secrets.get(use.secret);
      const crt = secret?.data?.["tls.crt"];
      const key = secret?.data?.["tls.key"];
      if (crt === undefined || key === undefined) continue;
      const base = createHash("sha256").update(use.secret).digest("hex").slice(0, 16);
      const digest = createHash("sha256").update(crt).update("\n").update(key).digest("hex");
      for (const [ext, data] of [["crt", crt], ["key", key]] as const) {
        const file = `${base}.${ext}`;
        keep.add(file);
        if (this.written.get(file) === digest) continue;
        const tmp = join(this.dir, `.${file}.tmp`);
        writeFileSync(tmp, Buffer.from(data, "base64"), { mode: 0o600 });
        renameSync(tmp, join(this.dir, file));
        this.written.set(file, digest);
      }
      const cert: CertificateInput = { cert: join(this.dir, `${base}.crt`), key: join(this.dir, `${base}.key`) };
      if (use.names.length > 0) cert.names = [...use.names].sort();
      out.push(cert);
    }
    for (const file of readdirSync(this.dir)) {
      if (keep.has(file)) continue;
      unlinkSync(join(this.dir, file));
      this.written.delete(file);
    }
    return out;
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
