import { readdir } from "node:fs/promises";
import { UserError } from "../../errors.js";
import type { EventSink } from "../../events.js";
import type { Spec } from "../../spec/schema.js";
import type { ImageConfig } from "../container/fetch.js";
import type { Rootfs } from "./rootfs.js";
import { withNetwork } from "./run-steps.js";
import { impliedPackages } from "../plan.js";

/** Read by the agent at start (agent/internal/agent/defaults.go). */
export const EXEC_DEFAULTS = "/etc/plinth/exec-defaults.json";
const ENTRYPOINT_UNIT = "plinth-entrypoint.service";

/**
 * What a container rootfs lacks to boot as a VM, and what its config says, made part of
 * the image: the files a VM needs, the packages the spec (and plinth) want, the image's
 * Env, WorkingDir and User as the agent's exec defaults, and Entrypoint + Cmd as a
 * service when the spec asks for one.
 */
export async function applyContainerBase(
  fs: Rootfs,
  spec: Spec,
  config: ImageConfig,
  packages: string[],
  emit: EventSink,
): Promise<void> {
  // A container runtime bind-mounts these; a VM needs them in the image.
  if (!fs.exists("/etc/hostname"))
    await fs.write("/etc/hostname", `${spec.hostname ?? spec.name}\n`, { mode: 0o644 });
  if (!fs.exists("/etc/resolv.conf")) {
    await fs.remove("/etc/resolv.conf"); // a dangling link to a resolver the image lacks
    await fs.write("/etc/resolv.conf", "nameserver 10.0.2.3\n", { mode: 0o644 });
  }
  if (!fs.exists("/etc/fstab"))
    await fs.write("/etc/fstab", "# the kernel mounts the root filesystem (root=/dev/vda)\n", {
      mode: 0o644,
    });
  await installPackages(fs, spec, await missingPackages(fs, packages), emit);

  const c = config.config ?? {};
  const entrypoint = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  const service = spec.oci.entrypoint === "service" && entrypoint.length > 0;
  if (spec.oci.entrypoint === "service" && !service)
    emit({
      type: "log",
      stage: "customize",
      level: "warn",
      message: "the base image has no Entrypoint or Cmd to run as a service",
    });
  const defaults = {
    env: c.Env ?? [],
    cwd: c.WorkingDir || undefined,
    user: c.User || undefined,
    // Under minimal init the agent starts it; under systemd a unit does.
    entrypoint: service && spec.init === "minimal" ? entrypoint : undefined,
  };
  // Docker creates a missing WorkingDir when the container starts; here it is made once.
  if (defaults.cwd && !fs.exists(defaults.cwd)) await fs.mkdir(defaults.cwd, { mode: 0o755 });
  await fs.write(EXEC_DEFAULTS, `${JSON.stringify(defaults, null, 2)}\n`, { mode: 0o644 });
  if (service && spec.init === "systemd") {
    await fs.write(
      `/etc/systemd/system/${ENTRYPOINT_UNIT}`,
      entrypointUnit(fs, entrypoint, defaults),
      {
        mode: 0o644,
      },
    );
    await fs.chroot(["systemctl", "enable", ENTRYPOINT_UNIT]);
  }
}

/** The wanted packages the image does not have; a kernel it already has counts as had. */
async function missingPackages(fs: Rootfs, wanted: string[]): Promise<string[]> {
  const hasKernel = (await readdir(fs.path("/boot")).catch(() => [] as string[])).some((f) =>
    f.startsWith("vmlinuz-"),
  );
  const candidates = wanted.filter((p) => !(hasKernel && p.startsWith("linux-image-")));
  if (!candidates.length || !fs.exists("/usr/bin/dpkg-query")) return candidates;
  // dpkg-query exits 1 when some are unknown; what it printed is still the answer.
  const query = 'dpkg-query -W -f="\\${Package} \\${db:Status-Status}\\n" "$@" 2>/dev/null; true';
  const out = await fs.chroot(["/bin/sh", "-c", query, "sh", ...candidates]);
  const installed = new Set(
    out
      .split("\n")
      .filter((l) => l.endsWith(" installed"))
      .map((l) => l.split(" ")[0]),
  );
  return candidates.filter((p) => !installed.has(p));
}

async function installPackages(
  fs: Rootfs,
  spec: Spec,
  names: string[],
  emit: EventSink,
): Promise<void> {
  if (!names.length) return;
  if (!fs.exists("/usr/bin/apt-get")) {
    // What plinth itself adds for the minimal init (ip, mount) a busybox image has anyway.
    const own = new Set(impliedPackages(spec).filter((p) => !p.startsWith("linux-image-")));
    const skipped = names.filter((n) => own.has(n));
    if (skipped.length)
      emit({
        type: "log",
        stage: "customize",
        level: "warn",
        message: `the base image has no apt-get: ${skipped.join(", ")} not installed`,
      });
    const needed = names.filter((n) => !own.has(n));
    if (!needed.length) return;
    const kernel = needed.some((n) => n.startsWith("linux-image-"));
    throw new UserError(
      "BAD_BASE",
      `The base image has no apt-get, so plinth cannot install ${needed.join(", ")}.`,
      {
        hint: kernel
          ? "Give the kernel as `kernel.path` (and `kernel.initrd`), or use a base with apt."
          : "Drop them from `packages` (files, users and `run` steps still work), or use a base with apt.",
      },
    );
  }
  emit({
    type: "log",
    stage: "customize",
    level: "info",
    message: `installing ${names.join(" ")}`,
  });
  await withNetwork(fs, async () => {
    await fs.chroot(["apt-get", "update", "-q"]);
    await fs.chroot(
      ["apt-get", "install", "-y", "-q", "--no-install-recommends", ...names],
      "customize",
      { DEBIAN_FRONTEND: "noninteractive" },
    );
  });
}

function entrypointUnit(
  fs: Rootfs,
  argv: string[],
  d: { env: string[]; cwd?: string; user?: string },
): string {
  // systemd's quoting: double quotes with \ and " escaped, % doubled; in ExecStart= also
  // $, which systemd would expand there (not in Environment=).
  const quote = (s: string) => `"${s.replace(/[\\"]/g, "\\$&").replace(/%/g, "%%")}"`;
  const arg = (s: string) => quote(s).replace(/\$/g, "$$$$");
  const [user, group] = (d.user ?? "").split(":");
  return [
    "[Unit]",
    "Description=The container image's entrypoint",
    "After=network.target plinth-agent.service",
    "",
    "[Service]",
    `ExecStart=${[executable(fs, argv[0]!, d.env), ...argv.slice(1)].map(arg).join(" ")}`,
    `WorkingDirectory=${d.cwd ?? "/"}`,
    ...(user ? [`User=${user}`] : []),
    ...(group ? [`Group=${group}`] : []),
    ...d.env.map((kv) => `Environment=${quote(kv)}`),
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** argv[0] found on the image's PATH (systemd would search its own), else as given. */
function executable(fs: Rootfs, name: string, env: string[]): string {
  if (name.includes("/")) return name;
  const PATH =
    env.find((kv) => kv.startsWith("PATH="))?.slice(5) ??
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  const dir = PATH.split(":").find((d) => d.startsWith("/") && fs.exists(`${d}/${name}`));
  return dir ? `${dir}/${name}` : name;
}

/** ID and VERSION_CODENAME of the image's os-release: what a container base turned out to be. */
export async function osRelease(fs: Rootfs): Promise<{ id?: string; codename?: string }> {
  const file = ["/etc/os-release", "/usr/lib/os-release"].find((f) => fs.exists(f));
  const text = file ? await fs.read(file) : "";
  const field = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?$`, "m").exec(text)?.[1];
  return { id: field("ID"), codename: field("VERSION_CODENAME") };
}
