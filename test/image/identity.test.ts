import { describe, expect, it } from "vitest";
import { bakedIdentity } from "../../src/image/identity.js";
import { ext4Of } from "../helpers.js";

describe("bakedIdentity", () => {
  it("finds host keys, a filled machine id and seed files in an ext4 image", async () => {
    const image = ext4Of({
      "etc/ssh/ssh_host_ed25519_key": "private",
      "etc/ssh/ssh_host_ed25519_key.pub": "public",
      "etc/ssh/sshd_config": "",
      "etc/machine-id": "0b4f6c1e9d2a4c3b8e7f1a2b3c4d5e6f\n",
      "var/lib/dbus/machine-id": "0b4f6c1e9d2a4c3b8e7f1a2b3c4d5e6f\n",
      "var/lib/systemd/random-seed": "seed",
    });
    expect((await bakedIdentity(image)).sort()).toEqual([
      "/etc/machine-id",
      "/etc/ssh/ssh_host_ed25519_key",
      "/etc/ssh/ssh_host_ed25519_key.pub",
      "/var/lib/dbus/machine-id",
      "/var/lib/systemd/random-seed",
    ]);
  });

  it("passes an empty machine id, a linked dbus id and no keys", async () => {
    const image = ext4Of({
      "etc/ssh/sshd_config": "",
      "etc/machine-id": "",
      "var/lib/dbus/machine-id": "-> /etc/machine-id",
    });
    expect(await bakedIdentity(image)).toEqual([]);
    expect(await bakedIdentity(ext4Of({ "etc/hostname": "x\n" }))).toEqual([]);
  });
});
