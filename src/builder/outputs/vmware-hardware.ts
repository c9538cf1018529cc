import { UnsupportedError } from "../../errors.js";

/**
 * The one virtual machine the VMware outputs (the VMDK's descriptor, the OVF, the VMX)
 * describe, so the three always agree.
 *
 * Hardware version 19, the seed's: ESXi 7.0 U2+, Workstation 16.2+, Fusion 12.2+. A
 * host older than that refuses the OVF's `vmx-19` up front. Everything used here (pvscsi,
 * vmxnet3, UEFI) is far older, so lowering this one number widens the hosts that take
 * the image; the VMDK, the OVF and the VMX all read it.
 */
export const VMWARE_HW_VERSION = 19;

/**
 * The disk controller is paravirtual SCSI (pvscsi), as in the seed: Debian's cloud kernel,
 * plinth's default, has `vmw_pvscsi` but no LSI Logic driver (`CONFIG_FUSION_SPI` unset),
 * so an `lsilogic` controller would leave the guest without its root disk.
 */
export const SCSI_CONTROLLER = { vmx: "pvscsi", ovfSubType: "VirtualSCSI" } as const;

/**
 * The VMDK descriptor's `ddb.adapterType` only says which kind of bus the disk was made
 * for (and so its geometry): qemu-img writes ide, buslogic, lsilogic or legacyESX, not
 * pvscsi. `lsilogic` is the plain SCSI value (SCSI geometry, 255 heads × 63 sectors);
 * the controller the VM gets comes from the OVF or the VMX, never from this field.
 */
export const VMDK_ADAPTER_TYPE = "lsilogic";

export const NIC = { vmx: "vmxnet3", ovfSubType: "VmxNet3" } as const;

/** The network the OVF's NIC connects to and the VMX names: VMware's default port group. */
export const NETWORK_NAME = "VM Network";

/**
 * Kernel modules the guest needs on this hardware before its root is mounted (the root
 * disk behind pvscsi) and for its network. Dependencies (scsi_mod, …) are resolved from
 * modules.dep.
 */
export const VMWARE_BOOT_MODULES = ["vmw_pvscsi", "sd_mod", "vmxnet3"];

/** How each format names the guest OS. */
export interface GuestOs {
  /** CIM_OperatingSystem OsType, the OVF's OperatingSystemSection ovf:id. */
  cimId: number;
  /** The OVF's vmw:osType (vSphere's guest ID). */
  ovfOsType: string;
  /** The VMX's guestOS. */
  vmxGuestOS: string;
  description: string;
}

/**
 * The guest OS entry for a distribution. Debian uses `debian11_64Guest`, the newest
 * Debian ID that every hardware-19 host knows (`debian12_64Guest` needs vSphere 8); the
 * ID only picks defaults and the Tools flavour, so a newer Debian is fine with it.
 * Anything else is "other Linux, 64-bit", which every host knows.
 */
export function vmwareGuest(distro: string, arch = "amd64"): GuestOs {
  // VMware on arm64 (Fusion on Apple silicon) has its own guest IDs and devices: untested.
  if (arch !== "amd64")
    throw new UnsupportedError(
      `VMware outputs are made for amd64 only, not ${arch}.`,
      "Build the VMware outputs from an amd64 image.",
    );
  if (distro === "debian")
    return {
      cimId: 96,
      ovfOsType: "debian11_64Guest",
      vmxGuestOS: "debian11-64",
      description: "Debian GNU/Linux (64-bit)",
    };
  if (distro === "ubuntu")
    return {
      cimId: 94,
      ovfOsType: "ubuntu64Guest",
      vmxGuestOS: "ubuntu-64",
      description: "Ubuntu Linux (64-bit)",
    };
  return {
    cimId: 101,
    ovfOsType: "otherLinux64Guest",
    vmxGuestOS: "otherlinux-64",
    description: "Other Linux (64-bit)",
  };
}
