// Boots the bench image with extra virtio-serial ports beside the agent's: a raw echo
// channel, qemu-guest-agent's port, and a raw one-way channel, each a Unix socket.
import net from "node:net";
import path from "node:path";
import { root } from "./lib.mjs";

export const ECHO = "org.plinth.echo.0";
export const QGA = "org.qemu.guest_agent.0";
export const RAW = "org.plinth.raw.0";

export async function bootBenchVm() {
  const { ensureImage, Machine } = await import("../dist/index.js");
  const { portSocket } = await import("../dist/vm/qemu/argv.js");
  const image = (await ensureImage({ specFile: path.join(root, "bench/exec.yaml") })).imageDir;
  const vm = await Machine.start({ image, extraPorts: [ECHO, QGA, RAW] });
  const client = await vm.agent();
  const socket = (name) => connect(portSocket(vm.paths.dir, name));
  return { vm, client, socket, accel: vm.config.accel };
}

/** A guest port opened read-write on fd 3 (a virtio port can be opened only once). */
export const onPort = (name, body) => `exec 3<>/dev/virtio-ports/${name}; ${body}`;

function connect(file) {
  return new Promise((resolve, reject) => {
    const s = net.connect(file);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}
