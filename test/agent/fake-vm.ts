import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fakeMetadata, tempFiles } from "../helpers.js";
import { GO_AGENT, until } from "./harness.js";

/**
 * A running "VM" without QEMU, for the SDK and CLI: a PLINTH_HOME holding VM `name`,
 * whose agent.sock is the Go agent's Unix socket and whose pid is the agent's (started
 * under QEMU's name, which is what plinth checks a VM's pid for). Commands run on this
 * machine, as the test's user.
 */
export async function startFakeVm(name: string): Promise<{ home: string; stop(): void }> {
  const home = tempFiles({});
  const image = path.join(home, "image");
  const vmDir = path.join(home, "vms", name);
  mkdirSync(image);
  mkdirSync(vmDir, { recursive: true });
  writeFileSync(
    path.join(image, "metadata.json"),
    JSON.stringify(fakeMetadata({ name: "fake", version: "0.1.0", buildHash: "0123456789abcdef" })),
  );
  const socket = path.join(vmDir, "agent.sock");
  const agent: ChildProcess = spawn(GO_AGENT, ["--listen-unix", socket, "--quiet"], {
    argv0: "qemu-system-x86_64",
    stdio: "ignore",
  });
  await until(() => existsSync(socket));
  writeFileSync(
    path.join(vmDir, "config.json"),
    JSON.stringify({
      name,
      image,
      imageName: "fake",
      imageVersion: "0.1.0",
      accel: "tcg",
      memMiB: 512,
      cpus: 1,
      detached: true,
      created: "2025-01-01T00:00:00.000Z",
      pid: agent.pid,
      status: "running",
    }),
  );
  return { home, stop: () => void agent.kill("SIGKILL") };
}
