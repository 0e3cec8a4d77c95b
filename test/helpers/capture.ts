import { definePlugin, type PluginContext } from "../../src/middleware/plugin.js";

/** A plugin that only captures its context, so a test drives PluginContext (e.g. upstream) directly. */
export function capture(): { plugin: ReturnType<typeof definePlugin<unknown>>; context: () => PluginContext } {
  let ctx: PluginContext | undefined;
  const plugin = definePlugin<unknown>({
    name: "capture",
    create: (_options, context) => {
      ctx = context;
      return {};
    },
  });
  return { plugin, context: () => ctx! };
}
