import { type HandlerMap, type Logger, UnrecoverableError } from "@hoist/shared";

export function handlers(_deps: { log: Logger }): HandlerMap<"deploy"> {
  return {
    deploy: async (payload, { log }) => {
      log.error({ releaseId: payload.releaseId }, "not yet implemented");
      throw new UnrecoverableError("deploy: not yet implemented");
    },
  };
}
