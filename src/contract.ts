/**
 * The image contract: what the builder puts into every image and what the VM code, the
 * checks and the agent rely on finding there. It sits below every other module (it
 * imports nothing), so the builder, the runtime and the guest agent share one source.
 */

/** plinth's own files in the guest. */
export const PLINTH_LIB = "/usr/lib/plinth";
/** The guest agent: one static binary (agent/, Go), depending on nothing in the image. */
export const AGENT_PATH = `${PLINTH_LIB}/plinth-agent`;
/** PID 1 of `init: minimal` images (run by the initramfs's switch_root): the agent itself. */
export const MINIMAL_INIT = AGENT_PATH;
/** Applies the kernel command line's plinth.* keys (hostname, network, SSH key). */
export const GUEST_CONFIG = `${PLINTH_LIB}/guest-config`;
/** Name and version of the image, in the image. */
export const RELEASE_FILE = "/etc/plinth-release";

/** virtio-serial port name of the agent channel (QEMU `name=`, /dev/virtio-ports/<name>). */
export const AGENT_PORT = "org.plinth.agent.0";
/** The agent's vsock port (Firecracker's guests; `PLINTH_AGENT_VSOCK` on the command line). */
export const AGENT_VSOCK_PORT = 1024;
/** Images without the agent print this on the console once booted. */
export const READY_MARKER = "plinth-ready";

/** Kernel command-line keys guest-config applies: `plinth.<key>=value`. */
export const CMDLINE_KEYS = ["hostname", "ip", "gateway", "dns", "ssh_key", "ssh_user"] as const;
export type CmdlineKey = (typeof CMDLINE_KEYS)[number];
