import type { Command } from "commander";
import { Sandbox, type ExecResult, type StopMethod } from "../../sdk/index.js";
import { seconds } from "../../ui/progress.js";
import { makeContext } from "../context.js";
import { commandExitStatus } from "../exit-status.js";
import {
  accelOption,
  BOOT_HELP,
  bootOption,
  collect,
  INSECURE_HELP,
  insecureFor,
  positiveInt,
  publishOption,
  netFromFlags,
  vmmOption,
  type NetFlags,
} from "../options.js";

interface RunOptions extends NetFlags {
  rm?: boolean;
  detach?: boolean;
  name?: string;
  accel: "auto" | "kvm" | "tcg";
  boot: "kernel" | "disk";
  vmm: "qemu" | "firecracker";
  mem: number;
  cpus: number;
  set: string[];
  json?: boolean;
  append?: string;
  insecure?: boolean;
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description(
      "boot an image (building a spec first if needed); run a command in it, or just show it comes up",
    )
    .argument(
      "<image>",
      "image directory, name[:version] in the store, a plinth.yaml, or a registry ref / URL (pulled)",
    )
    .argument("[command...]", "command to run through the agent (after --)")
    .option("--rm", "remove the VM's state (overlay, console log) when it stops")
    .option("-d, --detach", "leave the VM running in the background; print its name")
    .option("--name <name>", "VM name (default: image name + random suffix)")
    .option("--accel <accel>", "auto, kvm or tcg", accelOption, "auto")
    .option("--boot <how>", BOOT_HELP, bootOption, "kernel")
    .option(
      "--vmm <vmm>",
      "qemu, or firecracker (a KVM host with a firecracker binary; the image needs the firecracker output)",
      vmmOption,
      "qemu",
    )
    .option("--mem <MiB>", "guest memory", positiveInt, 1024)
    .option("--cpus <n>", "guest vCPUs", positiveInt, 1)
    .option("--append <args>", "more kernel command-line arguments (plinth.ip=…, plinth.ssh_key=…)")
    .option(
      "--net [mode]",
      "give the guest a NIC: user (QEMU's user-mode network, 10.0.2.0/24; the default) or bridge (a host bridge with NAT; docs/networking.md)",
    )
    .option(
      "-p, --publish <host:guest>",
      "forward a TCP port on 127.0.0.1 to the guest (implies --net user; repeatable)",
      publishOption,
      [],
    )
    .option("--bridge <name>", "--net bridge: the host bridge (default plinth0)")
    .option("--subnet <cidr>", "--net bridge: the bridge's address pool (default 10.213.0.0/24)")
    .option(
      "--dns <a,b>",
      "--net bridge: the guest's resolvers (default: the image's, else the host's)",
    )
    .option(
      "--allow-egress <rule>",
      "--net bridge: let the guest connect to ADDR[/PREFIX][:PORT[-PORT]] (repeatable; all else is refused)",
      collect,
      [],
    )
    .option(
      "--deny-egress [scope]",
      "--net bridge: refuse all but --allow-egress and DNS (other, the default), or DNS too (all)",
    )
    .option(
      "--set <key=value>",
      "when <image> is a spec: override a value (repeatable)",
      collect,
      [],
    )
    .option("--insecure", INSECURE_HELP)
    .option("--json", "JSON events on stdout, the result as the last line")
    .action(async (ref: string, command: string[], opts: RunOptions) => {
      const ctx = makeContext(!!opts.json);
      const sb = await Sandbox.start(ref, {
        name: opts.name,
        accel: opts.accel,
        boot: opts.boot,
        vmm: opts.vmm,
        memMiB: opts.mem,
        cpus: opts.cpus,
        detach: opts.detach,
        append: opts.append,
        net: netFromFlags(opts),
        sets: opts.set,
        insecure: insecureFor(ref, opts.insecure),
        onEvent: ctx.renderer.onEvent,
        signal: ctx.signal,
      });
      const started = sb.started!;
      const timings: Record<string, number> = {
        imageMs: Math.round(started.imageMs),
        bootMs: Math.round(started.bootMs),
      };
      if (opts.detach) {
        ctx.result([sb.name], { name: sb.name, ...timings, attempts: started.attempts });
        await sb.close();
        return;
      }
      let r: ExecResult | undefined;
      let stoppedBy: StopMethod;
      try {
        if (command.length) {
          const tExec = performance.now();
          r = await sb.exec(command, {
            onStdout: (b) => (opts.json ? undefined : process.stdout.write(b)),
            onStderr: (b) => (opts.json ? undefined : process.stderr.write(b)),
            buffer: !!opts.json,
            signal: ctx.signal,
          });
          timings.execMs = Math.round(performance.now() - tExec);
        }
      } finally {
        const tStop = performance.now();
        stoppedBy = await sb.stop({ keep: !opts.rm });
        timings.stopMs = Math.round(performance.now() - tStop);
      }
      const exitCode = r ? commandExitStatus(r) : 0;
      const line = [
        `image ${seconds(timings.imageMs!)}${started.imageReused ? " (up to date)" : ""}`,
        `boot-to-${sb.hasAgent ? "agent-ready" : "ready"} ${seconds(timings.bootMs!)} (${sb.accel}${started.attempts > 1 ? `, ${started.attempts - 1} retried` : ""})`,
        ...(timings.execMs !== undefined ? [`exec ${timings.execMs} ms`] : []),
        `stop ${seconds(timings.stopMs!)}`,
      ].join(", ");
      ctx.renderer.close();
      if (opts.json) {
        const output = r && { signal: r.signal, stdout: r.stdout, stderr: r.stderr };
        ctx.result([], {
          name: sb.name,
          exitCode,
          ...output,
          attempts: started.attempts,
          ...timings,
          stoppedBy,
        });
      } else process.stderr.write(`plinth: ${sb.name}: ${line}\n`);
      process.exitCode = exitCode;
    });
}
