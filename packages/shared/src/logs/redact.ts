/** Secrets shorter than this are not masked: they would blank out ordinary words all over the log. */
export const minMaskedLength = 8;

const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
const PEM_END = /-----END [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * Masks known secrets in log lines, and private keys in PEM form even when their lines come one
 * call at a time: from a BEGIN line to its END line, every line is blanked (the BEGIN line shows a
 * marker). Feed it every line of one log, in order.
 */
export class SecretMasker {
  private readonly secrets = new Set<string>();
  private inKey = false;

  /** Registers a secret; each line of a multi-line one is masked on its own. */
  add(secret: string): void {
    for (const part of secret.split(/\r?\n/)) {
      const s = part.trim();
      if (s.length >= minMaskedLength) this.secrets.add(s);
    }
  }

  mask(line: string): string {
    let out = line;
    if (this.inKey) {
      const end = PEM_END.exec(out);
      if (!end) return "";
      this.inKey = false;
      out = out.slice(end.index + end[0].length);
    }
    const begin = PEM_BEGIN.exec(out);
    if (begin) {
      const rest = out.slice(begin.index + begin[0].length);
      const end = PEM_END.exec(rest);
      if (!end) this.inKey = true;
      out = `${out.slice(0, begin.index)}[redacted private key]${end ? rest.slice(end.index + end[0].length) : ""}`;
    }
    // Longest first, so a secret containing another is masked whole.
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join("[redacted]");
    return out;
  }
}
