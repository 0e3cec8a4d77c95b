import type { DivisorConfigInput } from "../../src/config/schema.js";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";

/** A gateway with an admin listener, for the provider tests: quiet logs, both on free ports. */
export interface ProviderGateway {
  gateway: Gateway;
  /** The listener's base URL. */
  url: string;
  /** The admin API's base URL. */
  admin: string;
  close(): Promise<void>;
}

export async function startProviderGateway(config: Omit<DivisorConfigInput, "listeners">): Promise<ProviderGateway> {
  const gateway = createGateway({ listeners: [{ address: "127.0.0.1:0" }], admin: { address: "127.0.0.1:0" }, logging: { level: "silent" }, ...config });
  const [bound] = await gateway.listen();
  return { gateway, url: `http://127.0.0.1:${bound!.port}`, admin: `http://127.0.0.1:${gateway.adminAddress!.port}`, close: () => gateway.close({ gracePeriodMs: 500 }) };
}
