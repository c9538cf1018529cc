import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export interface AptSource {
  uri: string;
  suites: string[];
}

const DEFAULT_MIRROR: Record<string, string> = {
  debian: "http://deb.debian.org/debian",
  ubuntu: "http://archive.ubuntu.com/ubuntu",
};

/** Read the host's apt sources, both one-line (sources.list) and deb822 (*.sources). */
export function hostAptSources(root = "/etc/apt"): AptSource[] {
  const out: AptSource[] = [];
  const read = (f: string) => {
    try {
      return readFileSync(f, "utf8");
    } catch {
      return "";
    }
  };
  const oneLine = (text: string) => {
    for (const line of text.split("\n")) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
      if (m) out.push({ uri: m[1]!, suites: [m[2]!] });
    }
  };
  const deb822 = (text: string) => {
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (name: string) =>
        new RegExp(`^${name}:\\s*(.+)$`, "mi").exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
      if (!field("Types").includes("deb")) continue;
      for (const uri of field("URIs")) out.push({ uri, suites: field("Suites") });
    }
  };
  oneLine(read(path.join(root, "sources.list")));
  let entries: string[] = [];
  try {
    entries = readdirSync(path.join(root, "sources.list.d")).sort();
  } catch {
    // no sources.list.d
  }
  for (const f of entries) {
    const text = read(path.join(root, "sources.list.d", f));
    if (f.endsWith(".list")) oneLine(text);
    else if (f.endsWith(".sources")) deb822(text);
  }
  return out;
}

/**
 * The mirror to bootstrap `distro` from when the spec names none: for Debian, the host's
 * own Debian mirror (the one that serves a plain release suite, not -security), since
 * that is the one known to be reachable; otherwise the distribution's main archive.
 */
export function defaultMirror(distro: string, sources = hostAptSources()): string {
  if (distro === "debian") {
    const main = sources.find(
      (s) => /\/debian\/?$/.test(s.uri) && s.suites.some((suite) => !suite.includes("-")),
    );
    if (main) return main.uri.replace(/\/$/, "");
  }
  return DEFAULT_MIRROR[distro] ?? DEFAULT_MIRROR.debian!;
}

/** The security archive next to a mirror, e.g. …/debian → …/debian-security. */
export function securityMirror(distro: string, mirror: string, sources = hostAptSources()): string {
  if (distro === "ubuntu") return mirror;
  const host = sources.find((s) => /\/debian-security\/?$/.test(s.uri));
  if (host && new URL(host.uri).host === new URL(mirror).host) return host.uri.replace(/\/$/, "");
  return mirror.replace(/\/debian\/?$/, "/debian-security");
}
