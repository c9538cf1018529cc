import { z } from "zod";
import { NAME_PATTERN } from "../names.js";

/**
 * The plinth.yaml schema (v1). This is the single source of truth: the TypeScript
 * types, the validator and the committed JSON Schema in schema/ all come from it.
 */

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
const NAME_RULE =
  "must be 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'";
const SIZE = /^\d+(\.\d+)?\s*([KMGT]i?B?)?$/i;
const MODE = /^0?[0-7]{3,4}$/;
const ABS_PATH = /^\/.*/;

const absPath = z.string().regex(ABS_PATH, "must be an absolute path");
const mode = z
  .union([
    z.string().regex(MODE, 'must be an octal mode such as "0644"'),
    // YAML 1.2 reads an unquoted 0644 as the decimal 644: take its digits as octal.
    z
      .number()
      .int()
      .refine((n) => MODE.test(String(n)), 'must be an octal mode such as "0644"'),
  ])
  .describe('Octal file mode, e.g. "0644".');
const owner = z
  .string()
  .regex(/^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$/, 'must be "user" or "user:group"')
  .describe('"user" or "user:group"; the names must exist in the image.');
const unitName = z
  .string()
  .regex(
    /^[A-Za-z0-9:_.@-]+\.(service|socket|target|timer|mount|path|slice)$/,
    "must be a systemd unit name such as ssh.service",
  );
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits");

export const DISTROS = ["debian", "ubuntu", "alpine"] as const;
/**
 * What a build writes besides rootfs.ext4, vmlinuz and initrd.img (always there: the image
 * boots the microvm way from them). docs/build.md, "Outputs", says what each is.
 */
export const OUTPUTS = [
  "ext4",
  "disk",
  "qcow2",
  "vmdk",
  "vmx",
  "ova",
  "vmlinux",
  "firecracker",
] as const;
export type Output = (typeof OUTPUTS)[number];

/** The keys that take a container image as the base instead of a bootstrap. */
export const CONTAINER_BASES = ["image", "oci-layout", "tarball", "dockerfile"] as const;

export const BaseSchema = z
  .strictObject({
    distro: z
      .enum(DISTROS)
      .default("debian")
      .describe(
        "Distribution to bootstrap from; with a container base, the family its packages and kernel are named for.",
      ),
    suite: z
      .string({
        error: (iss) =>
          typeof iss.input === "number"
            ? `write the suite as a quoted string ("${iss.input}"): YAML reads it as a number`
            : undefined,
      })
      .min(1)
      .optional()
      .describe('Release codename or number, e.g. bookworm, jammy, "3.19".'),
    mirror: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Package mirror URL. Default for Debian: the host's apt sources, else deb.debian.org.",
      ),
    variant: z
      .enum(["essential", "required", "minbase", "buildd", "important", "standard", "apt"])
      .default("apt")
      .describe("mmdebstrap variant (package selection before `packages`)."),
    components: z
      .array(z.string().min(1))
      .optional()
      .describe("Archive components (default: main)."),
    image: z
      .string()
      .regex(
        /^[^\s/]+\/[^\s]+$/,
        "must be a registry reference such as registry.example.com/team/python:3.12",
      )
      .optional()
      .describe("A container image to start from, pulled through the OCI distribution API."),
    "oci-layout": z
      .string()
      .min(1)
      .optional()
      .describe("A local OCI image layout directory, relative to the spec file."),
    ref: z
      .string()
      .min(1)
      .optional()
      .describe("The image in `oci-layout` (its ref.name annotation); default: its only one."),
    tarball: z
      .string()
      .min(1)
      .optional()
      .describe("An OCI or docker-archive image tarball, relative to the spec file."),
    dockerfile: z
      .string()
      .min(1)
      .optional()
      .describe("A Dockerfile, built with buildah (no Docker daemon), relative to the spec file."),
    context: z
      .string()
      .min(1)
      .optional()
      .describe("The Dockerfile's build context; default: the Dockerfile's directory."),
    args: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an ARG name"), z.string())
      .optional()
      .describe("The Dockerfile's build arguments (`ARG`), e.g. the image it starts FROM."),
  })
  .superRefine((b, ctx) => {
    const given = CONTAINER_BASES.filter((k) => b[k] !== undefined);
    const issue = (message: string, path: string[]) =>
      ctx.addIssue({ code: "custom", message, path });
    if (given.length > 1)
      issue(`give one of ${CONTAINER_BASES.join(", ")}, not ${given.join(" and ")}`, [given[1]!]);
    if (!given.length && b.suite === undefined)
      issue(
        `name a suite to bootstrap (e.g. bookworm), or a container base: ${CONTAINER_BASES.join(", ")}`,
        ["suite"],
      );
    if (given.length && (b.suite !== undefined || b.mirror !== undefined))
      issue("a container base is not bootstrapped: drop `suite` and `mirror`", [
        b.suite !== undefined ? "suite" : "mirror",
      ]);
    if (b.ref !== undefined && b["oci-layout"] === undefined)
      issue("`ref` names an image in an `oci-layout`", ["ref"]);
    for (const k of ["context", "args"] as const)
      if (b[k] !== undefined && b.dockerfile === undefined)
        issue(`\`${k}\` belongs to a \`dockerfile\` base`, [k]);
  })
  .describe("What the root filesystem starts from: a bootstrap, or a container image.");

export const OciSchema = z
  .strictObject({
    entrypoint: z
      .enum(["service", "ignore"])
      .default("ignore")
      .describe("Run the image's Entrypoint + Cmd at boot, as the container would."),
  })
  .describe("How a container base's config is used (Env, WorkingDir and User always are).");

export const UserSchema = z.strictObject({
  name: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a valid user name"),
  uid: z.number().int().min(0).optional(),
  groups: z.array(z.string().min(1)).optional().describe("Supplementary groups."),
  shell: z.string().regex(ABS_PATH, "must be an absolute path").optional(),
  home: absPath.optional(),
  system: z.boolean().optional().describe("A system account: no home by default, no login."),
  sudo: z
    .union([z.boolean(), z.literal("nopasswd")])
    .optional()
    .describe('true: may sudo with a password; "nopasswd": without one.'),
  ssh_authorized_keys: z.array(z.string().min(1)).optional(),
});

export const GroupSchema = z.strictObject({
  name: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a valid group name"),
  gid: z.number().int().min(0).optional(),
  system: z.boolean().optional(),
});

export const FileSchema = z
  .strictObject({
    path: absPath,
    content: z.string().optional().describe("Inline file content."),
    source: z.string().min(1).optional().describe("Path of a file, relative to the spec file."),
    mode: mode.optional(),
    owner: owner.optional(),
  })
  .refine((f) => (f.content === undefined) !== (f.source === undefined), {
    message: "give exactly one of `content` or `source`",
  });

export const DirectorySchema = z.strictObject({
  path: absPath,
  mode: mode.optional(),
  owner: owner.optional(),
});

const unitValue = z.union([scalarValue(), z.array(scalarValue())]);
const unitKey = /^[A-Z][A-Za-z0-9]*$/;

/** A unit-file section: typed where a typo would silently weaken a unit, free-form elsewhere. */
function unitSection(typed: z.ZodRawShape) {
  return z
    .object(typed)
    .catchall(unitValue)
    .superRefine((section, ctx) => {
      for (const key of Object.keys(section)) {
        if (!unitKey.test(key))
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: "must be a unit-file key such as ExecStart",
          });
        // Free-form keys pass unchecked, so a misspelt typed key would silently drop its
        // setting: catch the near misses.
        const meant = Object.keys(typed).find((k) => k !== key && nearMiss(k, key));
        if (meant)
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: `unknown key; did you mean ${meant}?`,
          });
      }
    });
}

/** Same letters in another case, or one edit apart (ProtectSytem, NoNewPrivilege). */
function nearMiss(a: string, b: string): boolean {
  if (a.toLowerCase() === b.toLowerCase()) return true;
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  // One substitution, insertion or deletion at the first difference: the rest must match.
  return [
    a.slice(i + 1) === b.slice(i + 1),
    a.slice(i) === b.slice(i + 1),
    a.slice(i + 1) === b.slice(i),
  ].some(Boolean);
}

const sizeOrPercent = z.union([
  z
    .string()
    .regex(
      /^(\d+(\.\d+)?[KMGT]?|\d+(\.\d+)?%|infinity)$/,
      'must be a size ("512M"), a percentage or "infinity"',
    ),
  z.number().int().positive(),
]);
const pathList = z.array(
  z.string().regex(/^[-+]?\/.*/, "must be an absolute path (optionally prefixed with - or +)"),
);
const capabilities = z.array(
  z.string().regex(/^~?CAP_[A-Z_]+$/, "must be a capability such as CAP_NET_ADMIN"),
);

/** The hardening and resource keys ClaudeOS-style units use, with their value types. */
export const HARDENING_KEYS = {
  ProtectSystem: z.union([z.boolean(), z.enum(["full", "strict"])]),
  ProtectHome: z.union([z.boolean(), z.enum(["read-only", "tmpfs"])]),
  PrivateTmp: z.boolean(),
  PrivateDevices: z.boolean(),
  PrivateNetwork: z.boolean(),
  NoNewPrivileges: z.boolean(),
  ProtectKernelTunables: z.boolean(),
  ProtectKernelModules: z.boolean(),
  ProtectControlGroups: z.boolean(),
  RestrictRealtime: z.boolean(),
  ReadWritePaths: pathList,
  ReadOnlyPaths: pathList,
  InaccessiblePaths: pathList,
  AmbientCapabilities: capabilities,
  CapabilityBoundingSet: capabilities,
  MemoryMax: sizeOrPercent,
  MemoryHigh: sizeOrPercent,
  TasksMax: z.union([
    z.number().int().positive(),
    z.string().regex(/^(\d+|\d+%|infinity)$/, 'must be a count, a percentage or "infinity"'),
  ]),
  CPUQuota: z.string().regex(/^[1-9]\d*%$/, 'must be a percentage such as "50%"'),
};

export const UnitSchema = z
  .strictObject({
    name: unitName,
    content: z.string().min(1).optional().describe("The whole unit file, verbatim."),
    unit: unitSection({
      Description: z.string().optional(),
      After: z.array(unitName).optional(),
      Before: z.array(unitName).optional(),
      Wants: z.array(unitName).optional(),
      Requires: z.array(unitName).optional(),
      PartOf: z.array(unitName).optional(),
    })
      .optional()
      .describe("[Unit] section."),
    service: unitSection({
      Type: z.enum(["simple", "exec", "forking", "oneshot", "dbus", "notify", "idle"]).optional(),
      Restart: z
        .enum([
          "no",
          "always",
          "on-success",
          "on-failure",
          "on-abnormal",
          "on-abort",
          "on-watchdog",
        ])
        .optional(),
      ...Object.fromEntries(Object.entries(HARDENING_KEYS).map(([k, v]) => [k, v.optional()])),
    })
      .optional()
      .describe("[Service] section; hardening and resource keys are type-checked."),
    install: unitSection({
      WantedBy: z.array(unitName).optional(),
      RequiredBy: z.array(unitName).optional(),
    })
      .optional()
      .describe("[Install] section."),
  })
  .refine((u) => (u.content !== undefined) !== !!(u.unit ?? u.service ?? u.install), {
    message: "give either `content` or the `unit`/`service`/`install` sections, not both",
  });

export const ServicesSchema = z.strictObject({
  enable: z.array(unitNameOrShort()).optional(),
  disable: z
    .array(unitNameOrShort())
    .optional()
    .describe("Units to disable; units the image does not have are skipped with a note."),
  mask: z.array(unitNameOrShort()).optional(),
  units: z.array(UnitSchema).optional().describe("Custom units written to /etc/systemd/system."),
});

function scalarValue() {
  return z.union([z.string(), z.number(), z.boolean()]);
}

function unitNameOrShort() {
  return z.string().regex(/^[A-Za-z0-9:_.@-]+$/, "must be a unit name such as ssh or ssh.service");
}

export const KernelSchema = z
  .strictObject({
    package: z.string().min(1).optional().describe("Distro kernel package to install."),
    path: z.string().min(1).optional().describe("Local kernel image, relative to the spec file."),
    url: z.string().url().optional().describe("Kernel image to download (needs sha256)."),
    sha256: sha256.optional(),
    initrd: z.string().min(1).optional().describe("Local initrd to use with `path`."),
    cmdline: z.string().optional().describe("Extra kernel command-line arguments."),
  })
  .refine((k) => [k.package, k.path, k.url].filter((x) => x !== undefined).length <= 1, {
    message: "give at most one of `package`, `path` or `url`",
  })
  .refine((k) => k.url === undefined || k.sha256 !== undefined, {
    message: "a kernel `url` needs its `sha256`",
    path: ["sha256"],
  });

export const DiskSchema = z.strictObject({
  size: z
    .string()
    .regex(SIZE, 'must be a size such as "2G" or "512M"')
    .optional()
    .describe("Fixed filesystem size. Without it the filesystem is sized to fit."),
  shrink: z
    .boolean()
    .default(true)
    .describe("Shrink the filesystem to its minimum (resize2fs -M)."),
  headroom: z
    .string()
    .regex(SIZE, 'must be a size such as "256M"')
    .default("256M")
    .describe("Free space left after shrinking."),
});

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const sysctlKey = z.string().regex(/^[a-z0-9_.-]+$/, "must be a sysctl key such as vm.swappiness");

export const SshSchema = z
  .record(
    z
      .string()
      .regex(/^[A-Z][A-Za-z0-9]*$/, "must be an sshd_config keyword such as PermitRootLogin"),
    z.union([scalar, z.array(z.string().min(1))]),
  )
  .describe(
    "sshd settings, written to /etc/ssh/sshd_config.d/50-plinth.conf (adds openssh-server). " +
      "Booleans become yes/no, lists are joined with spaces.",
  );

export const FirewallSchema = z
  .strictObject({
    backend: z
      .enum(["nftables", "ufw"])
      .default("nftables")
      .describe("nftables: a ruleset in /etc/nftables.conf; ufw: ufw's own rule files, enabled."),
    incoming: z
      .enum(["deny", "allow"])
      .default("deny")
      .describe("Default policy for incoming traffic."),
    outgoing: z
      .enum(["deny", "allow"])
      .default("allow")
      .describe("Default policy for outgoing traffic."),
    allow: z
      .array(
        z.strictObject({
          port: z.union([
            z.number().int().min(1).max(65535),
            z
              .string()
              .regex(/^\d{1,5}([:-]\d{1,5})?$/, 'must be a port or a range such as "3000:3999"'),
          ]),
          proto: z.enum(["tcp", "udp"]).default("tcp"),
          from: z.string().optional().describe("Source address or prefix; default anywhere."),
        }),
      )
      .default([])
      .describe("Incoming ports to allow (loopback and established traffic always are)."),
  })
  .describe("Host firewall (adds nftables or ufw, enabled at boot).");

export const LimitSchema = z.strictObject({
  domain: z.string().min(1).describe('User, @group or "*".'),
  type: z.enum(["soft", "hard", "-"]),
  item: z.string().regex(/^[a-z]+$/, "must be a limits.conf item such as nofile"),
  value: z.union([z.number().int(), z.literal("unlimited")]),
});

export const LogrotateSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, "must be a file name"),
  paths: z.array(absPath).min(1).describe("Log files or globs."),
  options: z
    .array(z.string().min(1))
    .default([])
    .describe("logrotate directives, e.g. daily, rotate 7, compress."),
  postrotate: z.string().optional().describe("Script run after rotation."),
});

export const MountSchema = z.strictObject({
  source: z.string().min(1).describe("Device, label or tmpfs."),
  target: absPath,
  type: z.string().min(1).describe("Filesystem type, e.g. tmpfs, ext4."),
  options: z.string().default("defaults"),
});

export const ValidateSchema = z
  .strictObject({
    vm: z
      .strictObject({
        cpus: z.number().int().positive().optional(),
        memory_mib: z.number().int().positive().optional(),
      })
      .optional()
      .describe("The VM `plinth check` boots to measure the criteria (default 1 vCPU, 1024 MiB)."),
    boot: z
      .strictObject({
        agent_ready_ms: z.number().int().positive().optional().describe("Max boot-to-agent-ready."),
        all_services_ms: z
          .number()
          .int()
          .positive()
          .optional()
          .describe("Max boot-to-all-services (systemd: the system is running)."),
        tcg: z
          .strictObject({
            agent_ready_ms: z.number().int().positive().optional(),
            all_services_ms: z.number().int().positive().optional(),
          })
          .optional()
          .describe("Limits under TCG (emulation); without one a time limit is not judged there."),
      })
      .optional(),
    idle: z
      .strictObject({
        memory_mib: z.number().positive().optional().describe("Max memory in use once idle."),
        cpu_percent: z
          .number()
          .positive()
          .optional()
          .describe("Max CPU use over a few idle seconds."),
        tcg: z
          .strictObject({ cpu_percent: z.number().positive().optional() })
          .optional()
          .describe("Limits under TCG; without one the CPU limit is not judged there."),
      })
      .optional(),
    commands: z
      .array(
        z.union([
          z.string().min(1),
          z.strictObject({ run: z.string().min(1), expect: z.string().optional() }),
        ]),
      )
      .optional()
      .describe("Shell commands that must succeed (and print `expect`, when given)."),
    files: z
      .array(
        z.strictObject({
          path: absPath,
          type: z.enum(["file", "dir", "symlink"]).optional(),
          mode: mode.optional(),
          owner: owner.optional(),
        }),
      )
      .optional()
      .describe("Paths that must exist; with only the type, mode and owner given checked."),
    services: z
      .strictObject({
        active: z.array(unitNameOrShort()).optional(),
        inactive: z.array(unitNameOrShort()).optional(),
      })
      .optional(),
    sshd: SshSchema.optional().describe("Effective sshd settings (sshd -T)."),
    sysctl: z.record(sysctlKey, scalar).optional().describe("Effective kernel parameters."),
    ports: z
      .strictObject({
        listening: z.array(z.number().int().min(1).max(65535)).optional(),
        closed: z.array(z.number().int().min(1).max(65535)).optional(),
      })
      .optional(),
    users: z.array(z.string().min(1)).optional(),
    groups: z.array(z.string().min(1)).optional(),
    rootfs_max_mib: z.number().positive().optional().describe("Max size of rootfs.ext4."),
  })
  .describe("What `plinth check` verifies in the booted guest, on top of what the spec declares.");

export const SpecSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: z
      .string()
      .regex(NAME_PATTERN, NAME_RULE)
      .refine((n) => !n.includes(".."), NAME_RULE),
    version: z.string().regex(SEMVER, "must be a semantic version such as 1.2.3"),
    description: z.string().optional(),
    extends: z.string().min(1).optional().describe("Another spec file this one builds on."),
    base: BaseSchema,
    oci: OciSchema.default({ entrypoint: "ignore" }),
    arch: z.enum(["amd64", "arm64"]).default("amd64"),
    packages: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9+.:=~-]*$/, "must be a package name"))
      .default([]),
    groups: z.array(GroupSchema).default([]),
    users: z.array(UserSchema).default([]),
    files: z.array(FileSchema).default([]),
    directories: z.array(DirectorySchema).default([]),
    services: ServicesSchema.default({}),
    hostname: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a valid hostname")
      .optional(),
    timezone: z
      .string()
      .regex(/^[A-Za-z0-9_+\-/]+$/, "must be a tz name such as Etc/UTC")
      .optional(),
    run: z
      .array(z.string().min(1))
      .default([])
      .describe("Shell commands run inside the rootfs, in order."),
    kernel: KernelSchema.default({}),
    init: z.enum(["systemd", "minimal"]).default("systemd"),
    agent: z.boolean().default(false).describe("Install plinth's guest agent."),
    ssh: SshSchema.optional(),
    firewall: FirewallSchema.optional(),
    sysctl: z
      .record(sysctlKey, scalar)
      .optional()
      .describe("Kernel parameters, written to /etc/sysctl.d/90-plinth.conf."),
    limits: z
      .array(LimitSchema)
      .optional()
      .describe("Written to /etc/security/limits.d/90-plinth.conf."),
    environment: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a variable name"), z.string())
      .optional()
      .describe("System-wide variables, appended to /etc/environment."),
    mounts: z.array(MountSchema).optional().describe("Extra /etc/fstab entries (e.g. tmpfs)."),
    journald: z
      .record(z.string().regex(/^[A-Z][A-Za-z]*$/, "must be a journald.conf key"), scalar)
      .optional()
      .describe("Written to /etc/systemd/journald.conf.d/90-plinth.conf."),
    dns: z
      .array(z.string().min(1))
      .optional()
      .describe("Name servers for a static /etc/resolv.conf."),
    manager: z
      .record(z.string().regex(/^[A-Z][A-Za-z]*$/, "must be a system.conf key"), scalar)
      .optional()
      .describe("systemd manager settings, written to /etc/systemd/system.conf.d/90-plinth.conf."),
    logrotate: z
      .array(LogrotateSchema)
      .optional()
      .describe("logrotate rules, one /etc/logrotate.d/<name> each (adds logrotate)."),
    locale: z
      .string()
      .regex(
        /^[A-Za-z]{2,3}(_[A-Z]{2})?(\.[A-Za-z0-9-]+)?(@\w+)?$|^C\.UTF-8$/,
        "must be a locale such as en_US.UTF-8",
      )
      .optional()
      .describe("System locale: generated, and set as LANG in /etc/default/locale."),
    git: z
      .record(
        z
          .string()
          .regex(
            /^[A-Za-z][A-Za-z0-9-]*(\.[^\s=]+)?\.[A-Za-z][A-Za-z0-9-]*$/,
            "must be a git config key such as init.defaultBranch",
          ),
        scalar,
      )
      .optional()
      .describe("System-wide git config (/etc/gitconfig), so every user gets it (adds git)."),
    profile: z
      .record(z.string().regex(/^[A-Za-z0-9_-]+$/, "must be a file name without .sh"), z.string())
      .optional()
      .describe("Login-shell snippets, written to /etc/profile.d/<name>.sh."),
    trim: z
      .union([
        z.boolean(),
        z.strictObject({
          docs: z.boolean().default(false),
          man: z.boolean().default(false),
          locales: z.boolean().default(false),
          apt_lists: z.boolean().default(false),
        }),
      ])
      .optional()
      .describe(
        "Leave out documentation (copyright files stay), man pages, translations, apt lists; " +
          "`true` for all. Also keeps later package installs in the image trimmed.",
      ),
    validate: ValidateSchema.optional(),
    disk: DiskSchema.default({ shrink: true, headroom: "256M" }),
    outputs: z
      .array(
        z.enum(OUTPUTS, {
          error: (iss) =>
            `output ${JSON.stringify(iss.input)} is not one plinth writes; it writes: ${OUTPUTS.join(", ")}`,
        }),
      )
      .default(["ext4"])
      .describe(
        "Artifacts to write besides rootfs.ext4, vmlinuz and initrd.img: disk (raw GPT, UEFI), " +
          "qcow2, vmdk (streamOptimized), vmx, ova, vmlinux (for Firecracker), firecracker " +
          "(firecracker.json). Formats made from the disk imply it, vmx implies vmdk, " +
          "firecracker implies vmlinux.",
      ),
  })
  .describe("A plinth image spec (plinth.yaml).");

export type Spec = z.output<typeof SpecSchema>;
export type SpecInput = z.input<typeof SpecSchema>;
export type User = z.output<typeof UserSchema>;
export type FileEntry = z.output<typeof FileSchema>;
export type Unit = z.output<typeof UnitSchema>;

/** "2G" → bytes. Units are binary (K = KiB); a fraction of a byte is dropped, as systemd does. */
export function parseSize(size: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)/i.exec(size.trim());
  if (!m) throw new Error(`bad size ${size}`);
  const exp = { "": 0, K: 1, M: 2, G: 3, T: 4 }[m[2]!.toUpperCase() as "" | "K" | "M" | "G" | "T"];
  return Math.floor(Number(m[1]) * 1024 ** exp);
}

export function parseMode(mode: string | number | undefined, fallback: number): number {
  if (mode === undefined) return fallback;
  return parseInt(String(mode), 8);
}
