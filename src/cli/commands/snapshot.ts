import type { Command } from "commander";
import { exportSnapshot, importSnapshot, Sandbox } from "../../sdk/index.js";
import { seconds } from "../../ui/progress.js";
import { makeContext } from "../context.js";
import { INSECURE_HELP, insecureFor, positiveInt } from "../options.js";

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** `plinth snapshot`, `restore`, `fork`: save a running VM, run it again, N times. */
export function registerSnapshot(program: Command): void {
  const snap = program
    .command("snapshot")
    .description("save a running VM (memory, devices, disk) as a snapshot; export or import one");
  snap
    .command("take <vm>", { isDefault: true })
    .description("pause the VM, save it, resume it (`plinth snapshot <vm>` for short)")
    .option("-o, --output <dir>", "snapshot dir (default: the store's snapshots/<vm>-<time>)")
    .option("--stop", "power the VM off once saved instead of resuming it")
    .option("--json", "the result as JSON")
    .action(async (vm: string, opts: { output?: string; stop?: boolean; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const sb = await Sandbox.connect(vm);
      const r = await sb.snapshot({ out: opts.output, stop: opts.stop });
      await sb.close();
      const size = r.manifest.files.state.size + r.manifest.files["disk.qcow2"].size;
      ctx.result(
        [
          r.dir,
          `  ${mib(size)}; paused ${seconds(r.pausedMs)}, ${seconds(r.totalMs)} in all${opts.stop ? "; VM stopped" : ""}`,
        ],
        {
          dir: r.dir,
          snapshot: r.manifest,
          pausedMs: Math.round(r.pausedMs),
          totalMs: Math.round(r.totalMs),
        },
      );
    });
  snap
    .command("export <snapshot> <file>")
    .description("write a snapshot as one file (a tar with SHA256SUMS) to carry to another host")
    .option("--json", "the result as JSON")
    .action(async (ref: string, file: string, opts: { json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const r = await exportSnapshot(ref, file);
      ctx.result([`${r.file} (${mib(r.bytes)})`], r);
    });
  snap
    .command("import <file>")
    .description("unpack an exported snapshot into the store, verifying every file")
    .option("--name <name>", "its name in the store (default: the snapshot's own)")
    .option("--pull <ref>", "registry reference of its base image, pulled if the store lacks it")
    .option("--insecure", INSECURE_HELP)
    .option("--json", "the result as JSON")
    .action(
      async (
        file: string,
        opts: { name?: string; pull?: string; insecure?: boolean; json?: boolean },
      ) => {
        const ctx = makeContext(!!opts.json);
        const r = await importSnapshot(file, {
          name: opts.name,
          pull: opts.pull,
          insecure: opts.pull ? insecureFor(opts.pull, opts.insecure) : [],
          onEvent: ctx.renderer.onEvent,
        });
        ctx.result([r.dir, ...(r.pulled ? [`  base pulled: ${r.pulled}`] : [])], {
          dir: r.dir,
          snapshot: r.manifest,
          pulled: r.pulled,
        });
      },
    );

  program
    .command("restore")
    .description("run a snapshot again: a VM with the saved processes and files, agent reconnected")
    .argument("<snapshot>", "snapshot dir, or its name in the store")
    .option("--name <name>", "VM name (default: image name + random suffix)")
    .option("--json", "the result as JSON")
    .action(async (ref: string, opts: { name?: string; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const sb = await Sandbox.restore(ref, {
        name: opts.name,
        detach: true,
        onEvent: ctx.renderer.onEvent,
      });
      await sb.close();
      ctx.result([sb.name, `  agent answering ${seconds(sb.bootMs!)} after QEMU started`], {
        name: sb.name,
        readyMs: Math.round(sb.bootMs!),
      });
    });

  program
    .command("fork")
    .description(
      "start N independent VMs from one snapshot, each with its own RNG, clock and hostname",
    )
    .argument("<snapshot>", "snapshot dir, or its name in the store")
    .requiredOption("-n, --count <n>", "how many", positiveInt)
    .option("--name <prefix>", "VM names are <prefix>-1 … <prefix>-N")
    .option("--json", "the result as JSON")
    .action(async (ref: string, opts: { count: number; name?: string; json?: boolean }) => {
      const ctx = makeContext(!!opts.json);
      const t0 = performance.now();
      const sbs = await Sandbox.fork(ref, opts.count, {
        name: opts.name,
        detach: true,
        onEvent: ctx.renderer.onEvent,
      });
      await Promise.all(sbs.map((s) => s.close()));
      const ms = performance.now() - t0;
      ctx.result([...sbs.map((s) => s.name), `  ${sbs.length} answering in ${seconds(ms)}`], {
        names: sbs.map((s) => s.name),
        totalMs: Math.round(ms),
      });
    });
}
