import { z } from "zod";
import { providerName } from "../schema-common.js";

export const fileProviderSchema = z
  .strictObject({
    type: z.literal("file"),
    name: providerName,
    path: z
      .string()
      .min(1)
      .meta({ description: "A YAML (or JSON) file, or a directory whose *.yaml, *.yml and *.json files are read (not recursively); relative to the working directory." }),
    watch: z.boolean().default(true).meta({ description: "Read the files again when they change, are added or removed." }),
  })
  .meta({
    description:
      "Routers, services, middlewares and tenants from files of their own (each file a fragment with those top-level keys), e.g. one file per team or one written by a deploy script.",
  });

export type FileProviderConfig = z.output<typeof fileProviderSchema>;
