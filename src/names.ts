import { UserError } from "./errors.js";

/**
 * One rule for every name plinth turns into a path (images, VMs, later snapshots):
 * lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63
 * characters, never containing "..". So a name is always one path component under its
 * root: `--name ..` or `--name ../../etc` cannot reach outside the store.
 */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name) && !name.includes("..");
}

export type NameKind = "image" | "VM" | "snapshot";

/** Throw one clear UserError unless `name` follows the rule. */
export function checkName(kind: NameKind, name: string): string {
  if (!isValidName(name))
    throw new UserError("BAD_NAME", `Invalid ${kind} name ${JSON.stringify(name)}.`, {
      hint: "Use 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'.",
    });
  return name;
}
