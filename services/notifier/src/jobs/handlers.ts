import { type HandlerMap, type Logger, UnrecoverableError } from "@hoist/shared";

export function handlers(_deps: { log: Logger }): HandlerMap<"notify"> {
  const notImplemented = async (payload: { kind: string; event: string }, { log }: { log: Logger }) => {
    log.error({ destination: payload.kind, event: payload.event }, "not yet implemented");
    throw new UnrecoverableError(`notify ${payload.kind}: not yet implemented`);
  };
  return { slack: notImplemented, "gitlab-status": notImplemented, webhook: notImplemented };
}
