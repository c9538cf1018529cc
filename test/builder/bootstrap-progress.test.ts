import { describe, expect, it } from "vitest";
import type { PlinthEvent } from "../../src/events.js";
import {
  BootstrapProgress,
  bootstrapProgressEvents,
  parseMmdebstrapLine,
} from "../../src/builder/bootstrap/progress.js";

/** What `mmdebstrap --verbose --variant=apt --include=sudo …` prints, shortened. */
const LOG = `I: automatically chosen format: tar
I: using /tmp/mmdebstrap.Hx8Xy2 as tempdir
I: running special hook: sync-in '/root/.cache/plinth/debs/debian-bookworm-amd64' /var/cache/apt/archives/
I: running apt-get update...
Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]
Get:2 http://deb.debian.org/debian-security bookworm-security InRelease [48.0 kB]
Get:3 http://deb.debian.org/debian bookworm/main amd64 Packages [8,788 kB]
Get:4 http://deb.debian.org/debian bookworm/main Translation-en [6,109 kB]
Get:5 http://deb.debian.org/debian bookworm-updates/main amd64 Packages T-2024-04-25-2003.23-F-2024-04-25-2003.23.pdiff [2,458 B]
Fetched 15.1 MB in 2s (7,012 kB/s)
Reading package lists...
I: downloading packages with apt...
Reading package lists...
Building dependency tree...
The following NEW packages will be installed:
  base-files libc6
0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.
Need to get 2,829 kB of archives.
Get:1 http://deb.debian.org/debian bookworm/main amd64 libc6 amd64 2.36-9+deb12u4 [2,758 kB]
Get:2 http://deb.debian.org/debian bookworm/main amd64 base-files amd64 12.4+deb12u5 [70.7 kB]
Fetched 2,829 kB in 0s (9,114 kB/s)
I: extracting archives...
I: installing essential packages...
Selecting previously unselected package base-files.
(Reading database ... 0 files and directories currently installed.)
Preparing to unpack .../base-files_12.4+deb12u5_amd64.deb ...
Unpacking base-files (12.4+deb12u5) ...
Preparing to unpack .../libc6_2.36-9+deb12u4_amd64.deb ...
Unpacking libc6:amd64 (2.36-9+deb12u4) ...
Setting up base-files (12.4+deb12u5) ...
Setting up libc6:amd64 (2.36-9+deb12u4) ...
I: installing remaining packages inside the chroot...
Reading package lists...
0 upgraded, 3 newly installed, 0 to remove and 0 not upgraded.
Need to get 2,144 kB/2,400 kB of archives.
Get:1 http://deb.debian.org/debian bookworm/main amd64 sudo amd64 1.9.13p3-1+deb12u1 [1,889 kB]
Get:2 http://deb.debian.org/debian bookworm/main amd64 tzdata all 2024a-0+deb12u1 [255 kB]
Unpacking sudo (1.9.13p3-1+deb12u1) ...
Unpacking tzdata (2024a-0+deb12u1) ...
Unpacking libaudit1:amd64 (1:3.0.9-1) over (1:3.0.9-1) ...
Setting up sudo (1.9.13p3-1+deb12u1) ...
Processing triggers for libc-bin (2.36-9+deb12u4) ...
I: running special hook: sync-out /var/cache/apt/archives '/root/.cache/plinth/debs/debian-bookworm-amd64'
I: cleaning package lists and apt cache...
I: creating tarball...
I: done
I: removing tempdir /tmp/mmdebstrap.Hx8Xy2...
I: success in 88.6412 seconds`.split("\n");

describe("bootstrap progress from mmdebstrap's output", () => {
  it("reads phases, packages fetched (not index files), unpacked, set up, and apt's totals", () => {
    expect(parseMmdebstrapLine("I: extracting archives...")).toEqual({
      phase: "extracting archives",
    });
    expect(parseMmdebstrapLine("I: using /tmp/x as tempdir")).toBeUndefined();
    expect(
      parseMmdebstrapLine(
        "Get:12 http://deb.debian.org/debian bookworm/main amd64 libc6 amd64 2.36-9 [2757 kB]",
      ),
    ).toEqual({ count: "fetched" });
    expect(
      parseMmdebstrapLine(
        "Get:3 http://deb.debian.org/debian bookworm/main amd64 Packages [8,788 kB]",
      ),
    ).toBeUndefined();
    expect(parseMmdebstrapLine("Unpacking libc6:amd64 (2.36-9) ...")).toEqual({
      count: "unpacked",
    });
    expect(
      parseMmdebstrapLine("Preparing to unpack .../libc6_2.36-9_amd64.deb ..."),
    ).toBeUndefined();
    expect(parseMmdebstrapLine("Setting up libc6:amd64 (2.36-9) ...")).toEqual({ count: "setUp" });
    expect(
      parseMmdebstrapLine("0 upgraded, 95 newly installed, 0 to remove and 0 not upgraded."),
    ).toEqual({ total: 95 });
  });

  it("follows a whole run: phases in order, counts across both apt runs", () => {
    const p = new BootstrapProgress();
    const phases: string[] = [];
    for (const line of LOG) if (p.feed(line) === "phase") phases.push(p.phase);
    expect(phases).toEqual([
      "updating package lists",
      "downloading packages",
      "extracting archives",
      "installing essential packages",
      "installing packages",
      "cleaning up",
      "writing the tarball",
    ]);
    expect(p.packages).toEqual({ fetched: 4, unpacked: 5, setUp: 3, total: 5 });
  });

  it("emits every phase change at once and counts at most every interval", () => {
    const events: PlinthEvent[] = [];
    let t = 0;
    const onLine = bootstrapProgressEvents((e) => events.push(e), {
      intervalMs: 250,
      now: () => t,
    });
    onLine("I: installing essential packages...");
    for (let i = 0; i < 100; i++) {
      t += 10; // 100 packages in one second
      onLine(`Unpacking pkg${i} (1.0) ...`);
    }
    onLine("I: installing remaining packages inside the chroot...");
    onLine("some other line");
    expect(events).toHaveLength(6); // 2 phases, counts at 250, 500, 750 and 1000 ms
    expect(events[0]).toEqual({
      type: "progress",
      stage: "bootstrap",
      phase: "installing essential packages",
      packages: { fetched: 0, unpacked: 0, setUp: 0 },
    });
    expect(events.at(-1)).toEqual({
      type: "progress",
      stage: "bootstrap",
      phase: "installing packages",
      packages: { fetched: 0, unpacked: 100, setUp: 0 },
    });
  });
});
