import { mkdir, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseSize, type Output, type Spec } from "../../spec/schema.js";
import { describeArtifact, type Artifact } from "../../image/metadata.js";
import { convertDisk } from "./convert.js";
import { diskCmdline, diskIds, makeDisk } from "./disk.js";
import { writeFirecrackerConfig, firecrackerConfig } from "./firecracker.js";
import { writeOva } from "./ova.js";
import { ovfDescriptor } from "./ovf.js";
import { extractVmlinux } from "./vmlinux.js";
import { vmwareGuest } from "./vmware-hardware.js";
import { vmxFile } from "./vmx.js";

/** Output file names in the image dir (the OVA's members are named for the image). */
export const OUTPUT_FILES = {
  disk: "disk.raw",
  qcow2: "disk.qcow2",
  vmdk: "disk.vmdk",
  vmlinux: "vmlinux",
  firecracker: "firecracker.json",
} as const;

/**
 * The outputs a spec asks for, with what they are made from: the disk formats need the
 * raw disk, a VMX its VMDK, firecracker.json the vmlinux. An implied intermediate is made
 * in scratch space and not kept unless it was asked for too; `kept` says which are.
 */
export function expandOutputs(asked: readonly Output[]): { make: Set<Output>; kept: Set<Output> } {
  const kept = new Set(asked);
  if (kept.has("vmx")) kept.add("vmdk");
  if (kept.has("firecracker")) kept.add("vmlinux");
  const make = new Set(kept);
  if (["qcow2", "vmdk", "ova"].some((o) => make.has(o as Output))) make.add("disk");
  if (make.has("ova")) make.add("vmdk");
  return { make, kept };
}

/** Stage ids and titles for the outputs beyond ext4, in the order they are made. */
export function outputStages(spec: Spec): { id: string; title: string }[] {
  const { make } = expandOutputs(spec.outputs);
  const titles: [Output, string][] = [
    ["disk", "UEFI disk (GPT, ESP + root)"],
    ["qcow2", "qcow2"],
    ["vmdk", "VMDK (streamOptimized)"],
    ["vmx", "VMX"],
    ["ova", "OVA"],
    ["vmlinux", "vmlinux"],
    ["firecracker", "firecracker.json"],
  ];
  return titles.filter(([o]) => make.has(o)).map(([id, title]) => ({ id, title }));
}

/** Host tools the outputs need, by their names in host/tools.ts. */
export function outputTools(spec: Spec): string[] {
  const { make } = expandOutputs(spec.outputs);
  const tools: string[] = [];
  if (make.has("disk")) tools.push("sfdisk", "mkfs.vfat", "mcopy", "systemd-boot");
  if (make.has("qcow2") || make.has("vmdk")) tools.push("qemu-img");
  return tools;
}

export interface OutputContext {
  spec: Spec;
  version: string;
  buildHash: string;
  kernelCmdline: string;
  /** The image dir being written (rootfs.ext4, vmlinuz, initrd.img are there already). */
  out: string;
  work: string;
  epoch: number;
  signal?: AbortSignal;
  /** Runs one output as a build stage (events, timing). */
  step: <T>(id: string, fn: () => Promise<T>) => Promise<T>;
}

/** The artifacts of the spec's outputs beyond ext4, made in dependency order. */
export async function writeOutputs(c: OutputContext): Promise<Artifact[]> {
  const { make, kept } = expandOutputs(c.spec.outputs);
  const { spec, out, signal } = c;
  const at = (o: keyof typeof OUTPUT_FILES) =>
    path.join(kept.has(o) ? out : c.work, OUTPUT_FILES[o]);
  const artifacts: Artifact[] = [];
  const keep = async (file: string, kind: Artifact["kind"], format?: string) => {
    if (path.dirname(file) === out)
      artifacts.push(await describeArtifact(out, path.basename(file), kind, format));
  };
  // The VM the image is checked on (validate.vm) is the one it describes to a hypervisor.
  const cpus = spec.validate?.vm?.cpus ?? 2;
  const memMiB = spec.validate?.vm?.memory_mib ?? 2048;

  if (make.has("disk")) {
    const ids = diskIds(c.buildHash);
    const raw = at("disk");
    await c.step("disk", () =>
      makeDisk({
        dir: out,
        work: c.work,
        out: raw,
        arch: spec.arch,
        title: `${spec.name} ${c.version}`,
        cmdline: diskCmdline(c.kernelCmdline, ids.root),
        ids,
        size: spec.disk.size ? parseSize(spec.disk.size) : undefined,
        epoch: c.epoch,
        signal,
      }),
    );
    await keep(raw, "disk", "raw");
    if (make.has("qcow2")) {
      await c.step("qcow2", () => convertDisk(raw, at("qcow2"), "qcow2", { signal }));
      await keep(at("qcow2"), "qcow2", "qcow2");
    }
    if (make.has("vmdk")) {
      await c.step("vmdk", () => convertDisk(raw, at("vmdk"), "vmdk", { signal }));
      await keep(at("vmdk"), "vmdk", "vmdk-streamOptimized");
    }
    const guest = vmwareGuest(spec.base.distro, spec.arch);
    if (make.has("vmx")) {
      const vmx = path.join(out, `${spec.name}.vmx`);
      await c.step("vmx", () =>
        writeFile(
          vmx,
          vmxFile({
            name: spec.name,
            displayName: `${spec.name} ${c.version}`,
            vmdkFile: OUTPUT_FILES.vmdk,
            cpus,
            memMiB,
            guestOS: guest.vmxGuestOS,
            annotation: spec.description,
          }),
        ),
      );
      await keep(vmx, "vmx");
    }
    if (make.has("ova")) {
      const ova = path.join(out, `${spec.name}.ova`);
      await c.step("ova", async () => {
        // Its members are gathered in scratch space: the descriptor, the manifest and a
        // link to the VMDK, wherever that is.
        const dir = path.join(c.work, "ova");
        await mkdir(dir, { recursive: true });
        await symlink(at("vmdk"), path.join(dir, OUTPUT_FILES.vmdk));
        const ovf = `${spec.name}.ovf`;
        const descriptor = ovfDescriptor({
          name: spec.name,
          version: c.version,
          description: spec.description,
          vmdkFile: OUTPUT_FILES.vmdk,
          vmdkSize: (await stat(at("vmdk"))).size,
          capacityBytes: (await stat(raw)).size,
          cpus,
          memMiB,
          os: guest,
        });
        await writeFile(path.join(dir, ovf), descriptor);
        await writeOva(dir, ova, { ovf, vmdk: OUTPUT_FILES.vmdk, mtime: c.epoch, signal });
      });
      await keep(ova, "ova");
    }
  }
  if (make.has("vmlinux")) {
    await c.step("vmlinux", () =>
      extractVmlinux(path.join(out, "vmlinuz"), at("vmlinux"), { signal }),
    );
    await keep(at("vmlinux"), "vmlinux");
  }
  if (make.has("firecracker")) {
    await c.step("firecracker", () =>
      writeFirecrackerConfig(
        out,
        firecrackerConfig({ kernelCmdline: c.kernelCmdline, cpus, memMiB, initrd: true }),
      ),
    );
    await keep(path.join(out, OUTPUT_FILES.firecracker), "firecracker");
  }
  return artifacts;
}
