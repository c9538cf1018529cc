import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureImage } from "../../src/builder/build.js";
import { BootError } from "../../src/errors.js";
import type { PlinthEvent } from "../../src/events.js";
import { Machine } from "../../src/vm/machine.js";
import { integrationSkipReason, ROOT } from "../helpers.js";

const skip = integrationSkipReason();

describe.skipIf(!!skip)("boot watchdog", () => {
  let image = "";
  beforeAll(async () => {
    process.env.PLINTH_HOME = mkdtempSync(path.join(os.tmpdir(), "plinth-wd-"));
    image = (await ensureImage({ specFile: path.join(ROOT, "examples", "minimal.yaml") })).imageDir;
  });

  it("kills and retries a guest whose console goes silent, reports each retry, then gives up cleanly", async () => {
    const events: PlinthEvent[] = [];
    // A root disk that never appears stalls the guest: the initramfs waits for it, silent,
    // for 5 s (a later root= on the command line wins).
    const err = await Machine.start({
      image,
      append: "root=/dev/vdz",
      silenceMs: 1000,
      retries: 1,
      onEvent: (e) => events.push(e),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BootError);
    expect((err as BootError).message).toMatch(/did not come up after 2 attempts \(console silent/);
    const warnings = events
      .filter((e) => e.type === "log" && e.level === "warn")
      .map((e) => (e as { message: string }).message);
    expect(warnings).toEqual([
      expect.stringMatching(/^boot attempt 1 failed \(console silent .*\); retrying$/),
      expect.stringMatching(/^boot attempt 2 failed \(console silent .*\); giving up$/),
    ]);
    // No VM state and no QEMU left behind.
    const vms = path.join(process.env.PLINTH_HOME!, "vms");
    expect(existsSync(vms) ? readdirSync(vms) : []).toEqual([]);
  }, 120_000);
});
