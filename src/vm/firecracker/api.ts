import http from "node:http";
import { PlinthError } from "../../errors.js";

/**
 * Firecracker's REST API on its Unix socket (`--api-sock`): JSON bodies, 204 on success,
 * a 4xx with `{fault_message}` otherwise. Names and paths are those of its swagger file.
 */
export async function apiPut(socket: string, route: string, body: object): Promise<void> {
  const payload = JSON.stringify(body);
  const { status, text } = await new Promise<{ status: number; text: string }>(
    (resolve, reject) => {
      const req = http.request(
        {
          socketPath: socket,
          path: route,
          method: "PUT",
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json",
            "Content-Length": Buffer.byteLength(payload),
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on("error", reject);
      req.end(payload);
    },
  );
  if (status >= 200 && status < 300) return;
  let fault = text;
  try {
    fault = (JSON.parse(text) as { fault_message?: string }).fault_message ?? text;
  } catch {
    // not JSON: the text as it came
  }
  throw new PlinthError(
    "FIRECRACKER_API",
    `Firecracker refused PUT ${route} (${status}): ${fault}`,
  );
}
