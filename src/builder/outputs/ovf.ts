import { BuildError } from "../../errors.js";
import { xmlEscape } from "../../util/xml.js";
import {
  NETWORK_NAME,
  NIC,
  SCSI_CONTROLLER,
  VMWARE_HW_VERSION,
  vmwareGuest,
  type GuestOs,
} from "./vmware-hardware.js";

export interface OvfOptions {
  /** The virtual system's id and name. */
  name: string;
  /** The image version: FullVersion as is, Version its major.minor.patch. */
  version: string;
  description?: string;
  /** The VMDK's file name, beside the .ovf (and in the OVA). */
  vmdkFile: string;
  /** The VMDK file's size in bytes. */
  vmdkSize: number;
  /** The disk's virtual size in bytes: the raw image's size. */
  capacityBytes: number;
  /** Bytes of the disk that hold data, if known (a hint for thin provisioning). */
  populatedBytes?: number;
  cpus: number;
  memMiB: number;
  /** Default: other Linux, 64-bit. */
  os?: GuestOs;
}

const NS = {
  "": "http://schemas.dmtf.org/ovf/envelope/1",
  cim: "http://schemas.dmtf.org/wbem/wscim/1/common",
  ovf: "http://schemas.dmtf.org/ovf/envelope/1",
  rasd: "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
  vmw: "http://www.vmware.com/schema/ovf",
  vssd: "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData",
  xsi: "http://www.w3.org/2001/XMLSchema-instance",
};

const STREAM_OPTIMIZED =
  "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized";

/** InstanceIDs of the hardware items; the disk's Parent is the controller's. */
const ID = { cpu: 1, memory: 2, controller: 3, disk: 4, nic: 5 };

/**
 * An OVF 1.0 descriptor for one VM with one streamOptimized disk: the hardware of
 * vmware-hardware.ts (pvscsi, vmxnet3, UEFI without Secure Boot, which the unsigned
 * systemd-boot needs), the given CPUs and memory. Every interpolated value is escaped.
 */
export function ovfDescriptor(o: OvfOptions): string {
  check(o);
  const os = o.os ?? vmwareGuest("other");
  const e = xmlEscape;
  const attrs = Object.entries(NS)
    .map(([prefix, uri]) => `${prefix ? `xmlns:${prefix}` : "xmlns"}="${uri}"`)
    .join(" ");
  const populated =
    o.populatedBytes === undefined ? "" : ` ovf:populatedSize="${o.populatedBytes}"`;
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<Envelope ${attrs}>`,
    `  <References>`,
    `    <File ovf:href="${e(o.vmdkFile)}" ovf:id="file1" ovf:size="${o.vmdkSize}"/>`,
    `  </References>`,
    `  <DiskSection>`,
    `    <Info>Virtual disk information</Info>`,
    `    <Disk ovf:capacity="${o.capacityBytes}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="${STREAM_OPTIMIZED}"${populated}/>`,
    `  </DiskSection>`,
    `  <NetworkSection>`,
    `    <Info>The list of logical networks</Info>`,
    `    <Network ovf:name="${e(NETWORK_NAME)}">`,
    `      <Description>The ${e(NETWORK_NAME)} network</Description>`,
    `    </Network>`,
    `  </NetworkSection>`,
    `  <VirtualSystem ovf:id="${e(o.name)}">`,
    `    <Info>A virtual machine</Info>`,
    `    <Name>${e(o.name)}</Name>`,
    ...(o.description
      ? [
          `    <AnnotationSection>`,
          `      <Info>A human-readable annotation</Info>`,
          `      <Annotation>${e(o.description)}</Annotation>`,
          `    </AnnotationSection>`,
        ]
      : []),
    `    <ProductSection>`,
    `      <Info>Information about the installed software</Info>`,
    `      <Product>${e(o.name)}</Product>`,
    `      <Version>${e(o.version.split(/[-+]/)[0]!)}</Version>`,
    `      <FullVersion>${e(o.version)}</FullVersion>`,
    `    </ProductSection>`,
    `    <OperatingSystemSection ovf:id="${os.cimId}" vmw:osType="${e(os.ovfOsType)}">`,
    `      <Info>The kind of installed guest operating system</Info>`,
    `      <Description>${e(os.description)}</Description>`,
    `    </OperatingSystemSection>`,
    `    <VirtualHardwareSection>`,
    `      <Info>Virtual hardware requirements</Info>`,
    `      <System>`,
    ...fields("vssd", {
      ElementName: "Virtual Hardware Family",
      InstanceID: 0,
      VirtualSystemIdentifier: o.name,
      VirtualSystemType: `vmx-${VMWARE_HW_VERSION}`,
    }),
    `      </System>`,
    ...item({
      AllocationUnits: "hertz * 10^6",
      Description: "Number of Virtual CPUs",
      ElementName: `${o.cpus} virtual CPU(s)`,
      InstanceID: ID.cpu,
      ResourceType: 3,
      VirtualQuantity: o.cpus,
    }),
    ...item({
      // DSP0004's programmatic unit for MiB, as VMware's own exports write it.
      AllocationUnits: "byte * 2^20",
      Description: "Memory Size",
      ElementName: `${o.memMiB}MB of memory`,
      InstanceID: ID.memory,
      ResourceType: 4,
      VirtualQuantity: o.memMiB,
    }),
    ...item({
      Address: 0,
      Description: "SCSI Controller",
      ElementName: "SCSI Controller 0",
      InstanceID: ID.controller,
      ResourceSubType: SCSI_CONTROLLER.ovfSubType,
      ResourceType: 6,
    }),
    ...item({
      AddressOnParent: 0,
      ElementName: "Hard Disk 1",
      HostResource: "ovf:/disk/vmdisk1",
      InstanceID: ID.disk,
      Parent: ID.controller,
      ResourceType: 17,
    }),
    ...item({
      AutomaticAllocation: "true",
      Connection: NETWORK_NAME,
      Description: `${NIC.ovfSubType} ethernet adapter on "${NETWORK_NAME}"`,
      ElementName: "Network adapter 1",
      InstanceID: ID.nic,
      ResourceSubType: NIC.ovfSubType,
      ResourceType: 10,
    }),
    `      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>`,
    `      <vmw:Config ovf:required="false" vmw:key="bootOptions.efiSecureBootEnabled" vmw:value="false"/>`,
    `    </VirtualHardwareSection>`,
    `  </VirtualSystem>`,
    `</Envelope>`,
  ];
  return lines.join("\n") + "\n";
}

/**
 * CIM settings as elements. The CIM schemas declare them as a sequence in alphabetical
 * order, and strict readers (ovftool, vSphere) hold a descriptor to it: so sorted here.
 */
function fields(prefix: string, values: Record<string, string | number>): string[] {
  return Object.keys(values)
    .sort()
    .map((k) => `        <${prefix}:${k}>${xmlEscape(values[k]!)}</${prefix}:${k}>`);
}

const item = (values: Record<string, string | number>) => [
  `      <Item>`,
  ...fields("rasd", values),
  `      </Item>`,
];

function check(o: OvfOptions): void {
  const fail = (what: string) => {
    throw new BuildError("ovf", what);
  };
  if (!o.name) fail("the virtual system needs a name.");
  if (!o.version) fail("the virtual system needs a version.");
  if (!o.vmdkFile || o.vmdkFile.includes("/") || o.vmdkFile.startsWith("."))
    fail(`the disk must be a plain file name beside the descriptor, not ${o.vmdkFile}.`);
  for (const [k, v] of Object.entries({ cpus: o.cpus, memMiB: o.memMiB }))
    if (!Number.isSafeInteger(v) || v < 1) fail(`${k} must be a positive whole number, not ${v}.`);
  const sizes = {
    vmdkSize: o.vmdkSize,
    capacityBytes: o.capacityBytes,
    ...(o.populatedBytes !== undefined && { populatedBytes: o.populatedBytes }),
  };
  for (const [k, v] of Object.entries(sizes))
    if (!Number.isSafeInteger(v) || v < 0) fail(`${k} must be a byte count, not ${v}.`);
}
