import { networkInterfaces } from "node:os";
import { get } from "./net.js";

/**
 * An IPv4 address of this machine that is not loopback, for calling a listener as
 * another machine would. Throws (the test fails, it does not skip) when there is none.
 */
export function nonLoopbackAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === "IPv4" && !a.internal && !a.address.startsWith("127.")) return a.address;
  }
  throw new Error("this machine has no non-loopback IPv4 address; the admin security tests need one to call the admin API from outside localhost");
}

/** An admin API call; the body is parsed as JSON when it is JSON. */
export async function adminCall(
  base: string,
  method: string,
  path: string,
  options: { token?: string; body?: string } = {},
): Promise<{ status: number; body: unknown; text: string; headers: Record<string, string | string[] | undefined> }> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const res = await get(`${base}${path}`, { method, headers }, options.body);
  let body: unknown = res.body;
  try {
    body = JSON.parse(res.body);
  } catch {
    // not JSON (/metrics): keep the text
  }
  return { status: res.status, body, text: res.body, headers: res.headers };
}
