import { BuildError } from "../../errors.js";
import { NETWORK_NAME, NIC, SCSI_CONTROLLER, VMWARE_HW_VERSION } from "./vmware-hardware.js";

export interface VmxOptions {
  /** The VM's file-system name (nvram file). */
  name: string;
  displayName: string;
  /** The disk's file name, beside the .vmx. */
  vmdkFile: string;
  cpus: number;
  memMiB: number;
  /** The VMX's guestOS, e.g. vmwareGuest(distro).vmxGuestOS. */
  guestOS: string;
  annotation?: string;
}

/**
 * A .vmx for VMware Workstation, Fusion or Player: the hardware of vmware-hardware.ts
 * (the OVF's), UEFI without Secure Boot (the unsigned systemd-boot), one disk, one NIC
 * whose MAC VMware generates on first power-on. No uuid.* or MAC is written: VMware
 * makes them, so every copy of the VM gets its own.
 */
export function vmxFile(o: VmxOptions): string {
  if (!o.vmdkFile || o.vmdkFile.includes("/"))
    throw new BuildError("vmx", `the disk must be a file name beside the .vmx, not ${o.vmdkFile}.`);
  for (const [k, v] of Object.entries({ cpus: o.cpus, memMiB: o.memMiB }))
    if (!Number.isSafeInteger(v) || v < 1)
      throw new BuildError("vmx", `${k} must be a positive whole number, not ${v}.`);
  const entries: [string, string | number | boolean][] = [
    [".encoding", "UTF-8"],
    ["config.version", 8],
    ["virtualHW.version", VMWARE_HW_VERSION],
    ["displayName", o.displayName],
    ["guestOS", o.guestOS],
    ...(o.annotation ? [["annotation", o.annotation] as [string, string]] : []),
    ["nvram", `${o.name}.nvram`],
    ["memsize", o.memMiB],
    ["numvcpus", o.cpus],
    // One socket with every core: what the guest sees is what the OVF asks for.
    ["cpuid.coresPerSocket", o.cpus],
    ["firmware", "efi"],
    ["uefi.secureBoot.enabled", false],
    ["scsi0.present", true],
    ["scsi0.virtualDev", SCSI_CONTROLLER.vmx],
    ["scsi0:0.present", true],
    ["scsi0:0.deviceType", "scsi-hardDisk"],
    ["scsi0:0.fileName", o.vmdkFile],
    ["ethernet0.present", true],
    ["ethernet0.virtualDev", NIC.vmx],
    // Workstation and Fusion connect by type; ESXi, by port group name.
    ["ethernet0.connectionType", "nat"],
    ["ethernet0.networkName", NETWORK_NAME],
    ["ethernet0.addressType", "generated"],
    ["tools.syncTime", true],
    ["tools.upgrade.policy", "manual"],
    ["floppy0.present", false],
    ["vmci0.present", true],
    ["hpet0.present", true],
  ];
  return entries.map(([k, v]) => `${k} = ${quote(v)}`).join("\n") + "\n";
}

/**
 * A VMX value: always double-quoted. Inside quotes the VMX syntax escapes with `|` and
 * two hex digits (`|22` for `"`, `|7C` for `|` itself), as VMware writes them.
 */
export function quote(value: string | number | boolean): string {
  const text = typeof value === "boolean" ? (value ? "TRUE" : "FALSE") : String(value);
  const escaped = text.replace(
    // eslint-disable-next-line no-control-regex -- control characters must be escaped too
    /[|"\u0000-\u001F\u007F]/g,
    (c) => `|${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`,
  );
  return `"${escaped}"`;
}
