import { UserError } from "../errors.js";
import { formatCidr, tryCidr } from "./address.js";

/** Where a sandbox may connect: a network, and (optionally) a port range, TCP and UDP alike. */
export interface EgressRule {
  /** `A.B.C.D/P`, normalised. */
  to: string;
  ports?: { from: number; to: number };
}

/**
 * What leaves a sandbox's TAP. `other` (the default once any rule is given): only the
 * rules and DNS to its resolvers; `all`: DNS too must be allowed by a rule; `none`: no
 * filtering.
 */
export interface EgressPolicy {
  allow: EgressRule[];
  deny: "none" | "other" | "all";
}

export const OPEN: EgressPolicy = { allow: [], deny: "none" };

/** `ADDR[/PREFIX][:PORT[-PORT]]`, e.g. 203.0.113.7:443, 10.0.0.0/8, 0.0.0.0/0:80-89. */
export function parseEgressRule(s: string): EgressRule {
  const m = /^([\d./]+)(?::(\d{1,5})(?:-(\d{1,5}))?)?$/.exec(s.trim());
  const cidr = m && tryCidr(m[1]!);
  const from = Number(m?.[2] ?? 1);
  const to = Number(m?.[3] ?? m?.[2] ?? 65535);
  if (!cidr || !(from >= 1 && from <= to && to <= 65535))
    throw new UserError(
      "BAD_EGRESS",
      `"${s}" is not an egress rule: ADDRESS[/PREFIX][:PORT[-PORT]], e.g. 203.0.113.7:443 or 10.0.0.0/8.`,
      { hint: "Rules take IPv4 addresses and networks, not names: resolve a name first." },
    );
  return { to: formatCidr(cidr), ...(m[2] ? { ports: { from, to } } : {}) };
}

export function egressPolicy(allow: string[] = [], deny?: "other" | "all"): EgressPolicy {
  const rules = allow.map(parseEgressRule);
  return { allow: rules, deny: deny ?? (rules.length ? "other" : "none") };
}
