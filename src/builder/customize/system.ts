import { UserError } from "../../errors.js";
import type { Spec } from "../../spec/schema.js";
import type { Rootfs } from "./rootfs.js";

export async function applySystem(fs: Rootfs, spec: Spec): Promise<void> {
  if (spec.hostname) {
    await fs.write("/etc/hostname", `${spec.hostname}\n`);
    await fs.write(
      "/etc/hosts",
      `127.0.0.1\tlocalhost\n127.0.1.1\t${spec.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
    );
  }
  if (spec.timezone) {
    const zone = `/usr/share/zoneinfo/${spec.timezone}`;
    const isUtc = /^(Etc\/)?UTC$/.test(spec.timezone);
    if (!fs.exists(zone) && !isUtc) {
      throw new UserError(
        "BAD_TIMEZONE",
        `Timezone ${spec.timezone} is not in the image's tzdata.`,
        {
          hint: "Add tzdata to `packages` or check the zone name.",
        },
      );
    }
    if (fs.exists(zone)) await fs.symlink(zone, "/etc/localtime");
    else await fs.remove("/etc/localtime");
    await fs.write("/etc/timezone", `${spec.timezone}\n`);
  }
}
