import { existsSync, readFileSync } from "node:fs";
import tls from "node:tls";
import { Agent } from "undici";

/** Debian's bundle of the CAs the system trusts (a company's own CA is added there). */
const SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt";

let agent: Agent | undefined;

/** HTTPS trusts Node's CAs and the system's. */
export function dispatcher(): Agent {
  agent ??= new Agent({
    connect: {
      ca: [
        ...tls.rootCertificates,
        ...(existsSync(SYSTEM_CAS) ? [readFileSync(SYSTEM_CAS, "utf8")] : []),
      ],
    },
  });
  return agent;
}

/**
 * Registries spoken to over plain HTTP: the one a command names with `--insecure`, and
 * those in PLINTH_INSECURE_REGISTRIES (comma-separated host[:port]). Never implied.
 */
export function isInsecure(registry: string, named: string[] = []): boolean {
  return insecureRegistries(named).includes(registry);
}

export function insecureRegistries(named: string[] = []): string[] {
  const fromEnv = (process.env.PLINTH_INSECURE_REGISTRIES ?? "").split(",").map((s) => s.trim());
  return [...named, ...fromEnv].filter(Boolean);
}
