import { readFile } from "node:fs/promises";
import { ErrorCode } from "../protocol/messages.js";
import { OpError } from "./errors.js";

export interface Account {
  uid: number;
  gid: number;
  name?: string;
  home?: string;
  shell?: string;
}

interface GroupEntry {
  name: string;
  gid: number;
}

export function parsePasswd(text: string): Account[] {
  const out: Account[] = [];
  for (const line of text.split("\n")) {
    const [name, , uid, gid, , home, shell] = line.split(":");
    if (!name || name.startsWith("#") || !/^\d+$/.test(uid ?? "") || !/^\d+$/.test(gid ?? "")) {
      continue;
    }
    out.push({ name, uid: Number(uid), gid: Number(gid), home, shell });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    const [name, , gid] = line.split(":");
    if (name && !name.startsWith("#") && /^\d+$/.test(gid ?? "")) {
      out.push({ name, gid: Number(gid) });
    }
  }
  return out;
}

async function readOptional(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch {
    // A minimal image may have no /etc/passwd; numeric ids still work.
    return "";
  }
}

const isNumeric = (v: string | number): boolean => typeof v === "number" || /^\d+$/.test(v);

/**
 * A user by name or uid, from the passwd file (Node has no getpwnam). A numeric uid
 * without an entry is allowed and runs with gid = uid, as `setpriv` would need anyway.
 */
export async function resolveUser(user: string | number, passwdFile: string): Promise<Account> {
  const accounts = parsePasswd(await readOptional(passwdFile));
  if (isNumeric(user)) {
    const uid = Number(user);
    return accounts.find((a) => a.uid === uid) ?? { uid, gid: uid };
  }
  const account = accounts.find((a) => a.name === user);
  if (!account) throw new OpError(ErrorCode.UNKNOWN_USER, `no user "${user}" in ${passwdFile}`);
  return account;
}

/** "user", "user:group", "uid:gid" or a uid → numeric ids; the group defaults to the user's. */
export async function resolveOwner(
  owner: string | number,
  passwdFile: string,
  groupFile: string,
): Promise<{ uid: number; gid: number }> {
  const [user, group] = typeof owner === "number" ? [owner, undefined] : owner.split(":", 2);
  const account = await resolveUser(user === "" || user === undefined ? 0 : user, passwdFile);
  if (group === undefined || group === "") return { uid: account.uid, gid: account.gid };
  if (isNumeric(group)) return { uid: account.uid, gid: Number(group) };
  const entry = parseGroup(await readOptional(groupFile)).find((g) => g.name === group);
  if (!entry) throw new OpError(ErrorCode.UNKNOWN_GROUP, `no group "${group}" in ${groupFile}`);
  return { uid: account.uid, gid: entry.gid };
}
