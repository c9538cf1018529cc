import { describe, expect, it } from "vitest";
import { ovfDescriptor, type OvfOptions } from "../../src/builder/outputs/ovf.js";
import { vmwareGuest } from "../../src/builder/outputs/vmware-hardware.js";
import { BuildError, UnsupportedError } from "../../src/errors.js";
import { parseOvf, type Item, type Node } from "./ovf-parse.js";

const base: OvfOptions = {
  name: "devbox",
  version: "0.1.0-20261202-75913bb",
  vmdkFile: "devbox.vmdk",
  vmdkSize: 123456,
  capacityBytes: 64 * 1024 * 1024,
  populatedBytes: 9 * 1024 * 1024,
  cpus: 2,
  memMiB: 2048,
  os: vmwareGuest("debian"),
};

describe("ovfDescriptor", () => {
  it("is well-formed XML that declares the OVF, CIM and VMware namespaces", () => {
    const { envelope } = parseOvf(ovfDescriptor(base));
    expect(envelope).toMatchObject({
      "@xmlns": "http://schemas.dmtf.org/ovf/envelope/1",
      "@xmlns:ovf": "http://schemas.dmtf.org/ovf/envelope/1",
      "@xmlns:rasd":
        "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
      "@xmlns:vssd":
        "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData",
      "@xmlns:vmw": "http://www.vmware.com/schema/ovf",
    });
    // Every prefix the document uses is declared on the Envelope.
    const xml = ovfDescriptor(base);
    const used = new Set([...xml.matchAll(/<\/?([a-z]+):/g)].map((m) => m[1]));
    for (const prefix of used) expect(envelope).toHaveProperty(`@xmlns:${prefix}`);
  });

  it("references the disk file and describes the disk", () => {
    const { envelope } = parseOvf(ovfDescriptor(base));
    const file = (envelope.References as Node).File as Item[];
    expect(file).toEqual([
      { "@ovf:href": "devbox.vmdk", "@ovf:id": "file1", "@ovf:size": "123456" },
    ]);
    const disk = ((envelope.DiskSection as Node).Disk as Item[])[0]!;
    expect(disk).toMatchObject({
      "@ovf:capacity": String(64 * 1024 * 1024),
      "@ovf:capacityAllocationUnits": "byte",
      "@ovf:diskId": "vmdisk1",
      "@ovf:fileRef": "file1",
      "@ovf:format": "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized",
      "@ovf:populatedSize": String(9 * 1024 * 1024),
    });
    expect(ovfDescriptor({ ...base, populatedBytes: undefined })).not.toContain("populatedSize");
  });

  it("has CPU, memory, a pvscsi controller, the disk on it and a vmxnet3 NIC on the network", () => {
    const { envelope, system, hardware, byType } = parseOvf(ovfDescriptor(base));
    expect((hardware.System as Item)["vssd:VirtualSystemType"]).toBe("vmx-19");
    expect(byType(3)).toEqual([expect.objectContaining({ "rasd:VirtualQuantity": "2" })]);
    expect(byType(4)).toEqual([
      expect.objectContaining({
        "rasd:VirtualQuantity": "2048",
        "rasd:AllocationUnits": "byte * 2^20",
      }),
    ]);
    const [controller] = byType(6);
    expect(controller).toMatchObject({ "rasd:ResourceSubType": "VirtualSCSI" });
    const [disk] = byType(17);
    expect(disk).toMatchObject({
      "rasd:HostResource": "ovf:/disk/vmdisk1",
      "rasd:Parent": controller!["rasd:InstanceID"],
    });
    const [nic] = byType(10);
    const network = ((envelope.NetworkSection as Node).Network as Item[])[0]!;
    expect(nic).toMatchObject({
      "rasd:ResourceSubType": "VmxNet3",
      "rasd:Connection": network["@ovf:name"],
    });
    // InstanceIDs are unique.
    const ids = (hardware.Item as Item[]).map((i) => i["rasd:InstanceID"]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(hardware["vmw:Config"]).toContainEqual({
      "@ovf:required": "false",
      "@vmw:key": "firmware",
      "@vmw:value": "efi",
    });
    expect(system["@ovf:id"]).toBe("devbox");
  });

  it("writes each item's CIM settings in the schema's (alphabetical) order", () => {
    const xml = ovfDescriptor(base);
    for (const block of xml.match(/<Item>[\s\S]*?<\/Item>|<System>[\s\S]*?<\/System>/g)!) {
      const names = [...block.matchAll(/<(?:rasd|vssd):(\w+)>/g)].map((m) => m[1]!);
      expect(names).toEqual([...names].sort());
    }
  });

  it("names the guest OS by distribution", () => {
    const os = (distro: string) => {
      const { system } = parseOvf(ovfDescriptor({ ...base, os: vmwareGuest(distro) }));
      const section = system.OperatingSystemSection as Item;
      return [section["@ovf:id"], section["@vmw:osType"]];
    };
    expect(os("debian")).toEqual(["96", "debian11_64Guest"]);
    expect(os("ubuntu")).toEqual(["94", "ubuntu64Guest"]);
    expect(os("alpine")).toEqual(["101", "otherLinux64Guest"]);
    expect(() => vmwareGuest("debian", "arm64")).toThrow(UnsupportedError);
  });

  it("puts the full version in FullVersion and its release part in Version", () => {
    const { system } = parseOvf(ovfDescriptor(base));
    expect(system.ProductSection).toMatchObject({
      Product: "devbox",
      Version: "0.1.0",
      FullVersion: "0.1.0-20261202-75913bb",
    });
  });

  it("escapes every interpolated string", () => {
    const nasty = `a<b>&"c'\u0001`;
    const xml = ovfDescriptor({
      ...base,
      name: nasty,
      version: nasty,
      description: nasty,
      vmdkFile: `d&"<e>.vmdk`,
    });
    const { envelope, system } = parseOvf(xml);
    const decoded = `a<b>&"c'`; // the control character XML cannot carry is dropped
    expect(system.Name).toBe(decoded);
    expect((system.AnnotationSection as Node).Annotation).toBe(decoded);
    expect(((envelope.References as Node).File as Item[])[0]!["@ovf:href"]).toBe(`d&"<e>.vmdk`);
    expect(
      ((system.VirtualHardwareSection as Node).System as Item)["vssd:VirtualSystemIdentifier"],
    ).toBe(decoded);
  });

  it("refuses values that would make a broken descriptor", () => {
    expect(() => ovfDescriptor({ ...base, cpus: 0 })).toThrow(BuildError);
    expect(() => ovfDescriptor({ ...base, memMiB: 1.5 })).toThrow(BuildError);
    expect(() => ovfDescriptor({ ...base, vmdkFile: "../x.vmdk" })).toThrow(BuildError);
    expect(() => ovfDescriptor({ ...base, capacityBytes: -1 })).toThrow(BuildError);
  });
});
