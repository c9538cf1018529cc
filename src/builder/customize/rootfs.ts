import { existsSync } from "node:fs";
import { chmod, chown, lstat, mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../../errors.js";
import { run } from "../../host/exec.js";
import { resolveInRoot } from "../in-root.js";

const CHROOT_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  LC_ALL: "C.UTF-8",
  DEBIAN_FRONTEND: "noninteractive",
};

/**
 * A root filesystem tree being customized. Commands run chrooted inside a private mount
 * namespace with /proc, /sys and /dev mounted, so those mounts vanish with the process
 * even if plinth is killed: nothing is ever left mounted on the host.
 */
export class Rootfs {
  constructor(
    readonly dir: string,
    private readonly signal?: AbortSignal,
    /** The build's epoch, as SOURCE_DATE_EPOCH for what runs inside (useradd's dates, …). */
    private readonly epoch?: number,
  ) {}

  /** Host path of a path inside the image, resolved as a chroot would (see resolveInRoot). */
  path(inImage: string): string {
    return resolveInRoot(this.dir, inImage);
  }

  exists(inImage: string): boolean {
    return existsSync(this.path(inImage));
  }

  async isSymlink(inImage: string): Promise<boolean> {
    const st = await lstat(resolveInRoot(this.dir, inImage, false)).catch(() => undefined);
    return st?.isSymbolicLink() ?? false;
  }

  /** Remove a file or a symlink itself (not what it points to); nothing if missing. */
  async remove(inImage: string): Promise<void> {
    await rm(resolveInRoot(this.dir, inImage, false), { force: true });
  }

  /** Make `inImage` a symlink to `target` (as the guest sees it), replacing what was there. */
  async symlink(target: string, inImage: string): Promise<void> {
    await this.remove(inImage);
    await symlink(target, resolveInRoot(this.dir, inImage, false));
  }

  async chroot(
    argv: string[],
    stage = "customize",
    env: Record<string, string> = {},
  ): Promise<string> {
    const script =
      'root=$1; shift; mount -t proc proc "$root/proc" && mount --rbind /sys "$root/sys" && ' +
      'mount --rbind /dev "$root/dev" && exec chroot "$root" "$@"';
    return run(
      [
        "unshare",
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--",
        "/bin/sh",
        "-c",
        script,
        "sh",
        this.dir,
        ...argv,
      ],
      {
        stage,
        signal: this.signal,
        env: {
          ...CHROOT_ENV,
          ...(this.epoch === undefined ? {} : { SOURCE_DATE_EPOCH: String(this.epoch) }),
          ...env,
        },
      },
    );
  }

  async write(
    inImage: string,
    content: string | Buffer,
    opts: { mode?: number; owner?: string } = {},
  ) {
    const p = this.path(inImage);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, content);
    await this.setAttrs(inImage, opts);
  }

  async mkdir(inImage: string, opts: { mode?: number; owner?: string } = {}) {
    await mkdir(this.path(inImage), { recursive: true });
    await this.setAttrs(inImage, opts);
  }

  /** Append to a file in the image (created if missing), on a line of its own. */
  async append(inImage: string, text: string): Promise<void> {
    const old = this.exists(inImage) ? await this.read(inImage) : "";
    await this.write(inImage, old + (old && !old.endsWith("\n") ? "\n" : "") + text);
  }

  async read(inImage: string): Promise<string> {
    return readFile(this.path(inImage), "utf8");
  }

  async setAttrs(inImage: string, opts: { mode?: number; owner?: string }) {
    const p = this.path(inImage);
    if (opts.mode !== undefined) await chmod(p, opts.mode);
    if (opts.owner) {
      const { uid, gid } = await this.resolveOwner(opts.owner);
      await chown(p, uid, gid);
    }
  }

  /** "user" or "user:group" → numeric ids, from the image's own passwd and group files. */
  async resolveOwner(owner: string): Promise<{ uid: number; gid: number }> {
    const [user, group] = owner.split(":") as [string, string | undefined];
    const passwd = parseDb(await this.read("/etc/passwd"));
    const groups = parseDb(await this.read("/etc/group"));
    const u = passwd.get(user);
    if (!u)
      throw new UserError(
        "UNKNOWN_OWNER",
        `Owner "${owner}": user ${user} does not exist in the image.`,
        { hint: "Add the user under `users:` or fix the owner." },
      );
    const gid = group === undefined ? Number(u[3]) : Number(groups.get(group)?.[2] ?? NaN);
    if (Number.isNaN(gid))
      throw new UserError(
        "UNKNOWN_OWNER",
        `Owner "${owner}": group ${group} does not exist in the image.`,
        { hint: "Add the group under `groups:` or fix the owner." },
      );
    return { uid: Number(u[2]), gid };
  }
}

/** passwd/group style file → name → fields. */
export function parseDb(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const fields = line.split(":");
    m.set(fields[0]!, fields);
  }
  return m;
}
