import type { NextFunction, Request, RequestHandler, Response } from "express";
import { type AuthServices, tokenPrincipal } from "../auth/guard.js";
import type { Principal } from "../auth/roles.js";
import { safeEqual } from "../http/auth.js";
import { readCookie, SESSION_COOKIE, type Session, type SessionStore, type SignedIn } from "./session.js";

/** The signed-in session of a request that passed `requireSession`. */
export const sessionOf = (res: Response) => res.locals.session as Session;

/** Whether the request's Origin (or, without one, its Referer) names this host. */
function sameOrigin(req: Request): boolean {
  const from = req.get("origin") ?? req.get("referer");
  if (!from || from === "null") return false;
  try {
    return new URL(from).host === req.get("host");
  } catch {
    return false;
  }
}

/** The principal a session stands for now: a revoked or expired token ends it. */
async function principalOfSession(auth: AuthServices, who: SignedIn): Promise<Principal | undefined> {
  if (who.kind === "bootstrap") return { kind: "bootstrap", name: "bootstrap" };
  if (who.kind === "user") return { kind: "user", id: who.id, name: who.name };
  const t = await auth.tokens.live(who.id);
  return t && tokenPrincipal(t);
}

/** Pages go to the sign-in page without a session; anything else answers 401. */
export function requireSession(sessions: SessionStore, auth: AuthServices): RequestHandler {
  return (req, res, next) => {
    (async () => {
      const session = await sessions.get(readCookie(req.headers.cookie, SESSION_COOKIE));
      const principal = session && (await principalOfSession(auth, session.who));
      return principal && session ? { session, principal } : undefined;
    })().then((found) => {
      if (!found) {
        if (req.method === "GET" && req.accepts(["html", "json"]) === "html") res.redirect(303, "/login");
        else res.status(401).json({ error: { code: "unauthorized", message: "sign in to the dashboard first" } });
        return;
      }
      res.locals.session = found.session;
      res.locals.principal = found.principal;
      res.locals.via = "dashboard";
      next();
    }, next);
  };
}

/** State-changing requests: same-origin only, with the session's CSRF token (form field `csrf`). */
export function guardWrites(req: Request, res: Response, next: NextFunction): void {
  const refusal = writeRefusal(req, res);
  if (refusal) res.status(403).json({ error: { code: "forbidden", message: refusal } });
  else next();
}

/** Why a request may not change state, or undefined when it may. */
function writeRefusal(req: Request, res: Response): string | undefined {
  if (req.method === "GET" || req.method === "HEAD") return undefined;
  if (req.path.startsWith("/admin/queues")) {
    // bull-board's own XHR actions carry no CSRF token: SameSite=Strict keeps cross-site requests
    // cookie-less, and the request must prove it comes from this origin (Origin, or Referer when a
    // browser leaves Origin out); one with neither is refused too.
    return sameOrigin(req)
      ? undefined
      : "cross-origin or unattributed request refused: send it from the dashboard (Origin or Referer of this host)";
  }
  const csrf = typeof req.body?.csrf === "string" ? req.body.csrf : "";
  return safeEqual(csrf, sessionOf(res).csrf) ? undefined : "missing or wrong CSRF token; reload the page and try again";
}
