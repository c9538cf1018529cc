import { XMLParser, XMLValidator } from "fast-xml-parser";
import { expect } from "vitest";

// Strings kept as strings; repeatable elements always arrays, so one code path reads them.
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (name) => ["Item", "File", "Disk", "Network", "vmw:Config"].includes(name),
});

export type Node = Record<string, unknown>;
export type Item = Record<string, string>;

/** An OVF descriptor, validated and parsed by a real XML parser. */
export function parseOvf(xml: string) {
  expect(XMLValidator.validate(xml)).toBe(true);
  const envelope = parser.parse(xml).Envelope as Node;
  const system = envelope.VirtualSystem as Node;
  const hardware = system.VirtualHardwareSection as Node;
  const items = hardware.Item as Item[];
  const byType = (type: number) => items.filter((i) => i["rasd:ResourceType"] === String(type));
  return { envelope, system, hardware, items, byType };
}
