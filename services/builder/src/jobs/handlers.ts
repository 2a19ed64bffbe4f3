import { type HandlerMap, type Logger, UnrecoverableError } from "@hoist/shared";

export function handlers(_deps: { log: Logger }): HandlerMap<"build"> {
  return {
    build: async (payload, { log }) => {
      log.error({ buildId: payload.buildId }, "not yet implemented");
      throw new UnrecoverableError("build: not yet implemented");
    },
  };
}
