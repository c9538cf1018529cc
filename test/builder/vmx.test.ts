import { describe, expect, it } from "vitest";
import { ovfDescriptor } from "../../src/builder/outputs/ovf.js";
import { vmwareGuest } from "../../src/builder/outputs/vmware-hardware.js";
import { quote, vmxFile, type VmxOptions } from "../../src/builder/outputs/vmx.js";
import { BuildError } from "../../src/errors.js";
import { parseOvf } from "./ovf-parse.js";

const base: VmxOptions = {
  name: "devbox",
  displayName: "devbox 0.1.0",
  vmdkFile: "devbox.vmdk",
  cpus: 4,
  memMiB: 3072,
  guestOS: vmwareGuest("ubuntu").vmxGuestOS,
};

/** Every line `key = "value"`, the VMX syntax, decoded (`|XX` escapes). */
function parseVmx(text: string): Record<string, string> {
  const entries = text
    .trimEnd()
    .split("\n")
    .map((line) => {
      const m = /^([.\w:]+) = "([^"]*)"$/.exec(line);
      expect(m, line).not.toBeNull();
      const value = m![2]!.replace(/\|([0-9A-F]{2})/g, (_, hex: string) =>
        String.fromCharCode(parseInt(hex, 16)),
      );
      return [m![1]!, value] as const;
    });
  const keys = entries.map(([k]) => k);
  expect(new Set(keys).size).toBe(keys.length);
  return Object.fromEntries(entries);
}

describe("vmxFile", () => {
  it("boots with UEFI, the given CPUs and memory, the disk on pvscsi and a vmxnet3 NIC", () => {
    const vmx = parseVmx(vmxFile(base));
    expect(vmx).toMatchObject({
      ".encoding": "UTF-8",
      "config.version": "8",
      "virtualHW.version": "19",
      displayName: "devbox 0.1.0",
      guestOS: "ubuntu-64",
      firmware: "efi",
      "uefi.secureBoot.enabled": "FALSE",
      numvcpus: "4",
      memsize: "3072",
      "scsi0.present": "TRUE",
      "scsi0.virtualDev": "pvscsi",
      "scsi0:0.present": "TRUE",
      "scsi0:0.fileName": "devbox.vmdk",
      "ethernet0.present": "TRUE",
      "ethernet0.virtualDev": "vmxnet3",
      "ethernet0.addressType": "generated",
    });
    // VMware makes the identity of each copy: no MAC and no UUID are baked in.
    expect(
      Object.keys(vmx).filter((k) => /\.(address|generatedAddress)$|^uuid\./i.test(k)),
    ).toEqual([]);
  });

  it("describes the same hardware as the OVF", () => {
    const vmx = parseVmx(vmxFile(base));
    const { hardware, byType } = parseOvf(
      ovfDescriptor({
        name: "devbox",
        version: "0.1.0",
        vmdkFile: "devbox.vmdk",
        vmdkSize: 1,
        capacityBytes: 512,
        cpus: 4,
        memMiB: 3072,
      }),
    );
    const system = hardware.System as Record<string, string>;
    expect(system["vssd:VirtualSystemType"]).toBe(`vmx-${vmx["virtualHW.version"]}`);
    expect(byType(6)[0]!["rasd:ResourceSubType"]).toBe("VirtualSCSI"); // vSphere's name for pvscsi
    expect(byType(10)[0]!["rasd:ResourceSubType"]!.toLowerCase()).toBe(vmx["ethernet0.virtualDev"]);
  });

  it("quotes every value and escapes quotes, bars and newlines as VMware does", () => {
    expect(quote(`say "hi" | bye\n`)).toBe(`"say |22hi|22 |7C bye|0A"`);
    expect(quote(true)).toBe(`"TRUE"`);
    const annotation = `line one\n"two" | three`;
    expect(parseVmx(vmxFile({ ...base, annotation })).annotation).toBe(annotation);
  });

  it("refuses a disk outside its directory and impossible sizes", () => {
    expect(() => vmxFile({ ...base, vmdkFile: "/tmp/x.vmdk" })).toThrow(BuildError);
    expect(() => vmxFile({ ...base, cpus: 0 })).toThrow(BuildError);
  });
});
