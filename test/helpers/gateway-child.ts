// Runs a gateway in its own process (for tests that measure the gateway's own memory):
// config as JSON in argv[2]; prints the bound port on stdout; stops on SIGTERM.
import { createGateway } from "../../src/gateway/gateway.js";

const gateway = createGateway(JSON.parse(process.argv[2]!));
const [bound] = await gateway.listen();
process.stdout.write(`${bound!.port}\n`);
process.on("SIGTERM", () => {
  gateway.close({ gracePeriodMs: 500 }).then(() => process.exit(0));
});
