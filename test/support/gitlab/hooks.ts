import type { Request } from "express";
import { paginate } from "./pagination.js";
import { boolParam, projectFor } from "./projects.js";
import { missingParam, notFound, type RouteModule } from "./server.js";
import type { GitlabHook, GitlabState } from "./state.js";
import { isLocalNetworkUrl } from "./url-blocker.js";

/** GitLab never returns a hook's secret token. */
function hookView(h: GitlabHook) {
  const { token: _token, ...rest } = h;
  return { ...rest, issues_events: false, alert_status: "executable", disabled_until: null };
}

/**
 * A hook URL GitLab saves: http(s), and (unless the admin allowed local requests) not on the
 * local network. Both failures are a URL validation error, which the API answers with 422
 * "Invalid url given" (API::Helpers::WebHooksHelpers#save_hook).
 */
function validUrl(url: string, state: GitlabState): boolean {
  try {
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") return false;
  } catch {
    return false;
  }
  return state.settings.allowLocalRequestsFromWebHooksAndServices || !isLocalNetworkUrl(url);
}

type HookFields = Omit<GitlabHook, "id" | "project_id" | "created_at" | "url">;

/** Reads hook attributes; returns GitLab's error (status, body) when one is invalid. */
function hookFields(req: Request, current?: GitlabHook): HookFields | { status: number; body: unknown } {
  const b = (req.body ?? {}) as Record<string, unknown>;
  const out: HookFields = {
    token: typeof b.token === "string" ? b.token : current?.token,
    push_events: true,
    tag_push_events: false,
    merge_requests_events: false,
    push_events_branch_filter: current?.push_events_branch_filter ?? "",
    enable_ssl_verification: true,
  };
  for (const [name, fallback] of [
    ["push_events", current?.push_events ?? true],
    ["tag_push_events", current?.tag_push_events ?? false],
    ["merge_requests_events", current?.merge_requests_events ?? false],
    ["enable_ssl_verification", current?.enable_ssl_verification ?? true],
  ] as const) {
    const v = boolParam(b[name], fallback);
    if (v === "invalid") return { status: 400, body: { error: `${name} is invalid` } };
    out[name] = v;
  }
  if (b.push_events_branch_filter !== undefined) {
    if (typeof b.push_events_branch_filter !== "string" || /\s/.test(b.push_events_branch_filter)) {
      return { status: 422, body: { message: "Invalid branch filter given" } };
    }
    out.push_events_branch_filter = b.push_events_branch_filter;
  }
  return out;
}

/** Project webhooks (https://docs.gitlab.com/api/project_webhooks/): list, get, add, edit, delete. */
export const hookRoutes: RouteModule = (router, state, { baseUrl }) => {
  router.get("/projects/:id/hooks", (req, res) => {
    const p = projectFor(state, req, res, "maintainer");
    if (!p) return;
    const page = paginate(
      req,
      res,
      state.hooks.filter((h) => h.project_id === p.id),
      baseUrl(),
    );
    if (page) res.json(page.map(hookView));
  });

  router.get("/projects/:id/hooks/:hookId", (req, res) => {
    const p = projectFor(state, req, res, "maintainer");
    if (!p) return;
    const hook = state.hooks.find((h) => h.project_id === p.id && h.id === Number(req.params.hookId));
    if (!hook) return notFound(res, "Not found");
    res.json(hookView(hook));
  });

  router.post("/projects/:id/hooks", (req, res) => {
    const p = projectFor(state, req, res, "maintainer");
    if (!p) return;
    const url = (req.body as Record<string, unknown> | undefined)?.url;
    if (url === undefined || url === "") return missingParam(res, "url");
    if (typeof url !== "string" || !validUrl(url, state)) return void res.status(422).json({ message: "Invalid url given" });
    const fields = hookFields(req);
    if ("status" in fields) return void res.status(fields.status).json(fields.body);
    const hook: GitlabHook = { id: state.nextId(), project_id: p.id, url, created_at: new Date().toISOString(), ...fields };
    state.hooks.push(hook);
    res.status(201).json(hookView(hook));
  });

  router.put("/projects/:id/hooks/:hookId", (req, res) => {
    const p = projectFor(state, req, res, "maintainer");
    if (!p) return;
    const hook = state.hooks.find((h) => h.project_id === p.id && h.id === Number(req.params.hookId));
    if (!hook) return notFound(res, "Not found");
    const url = (req.body as Record<string, unknown> | undefined)?.url;
    if (url !== undefined && (typeof url !== "string" || !validUrl(url, state)))
      return void res.status(422).json({ message: "Invalid url given" });
    const fields = hookFields(req, hook);
    if ("status" in fields) return void res.status(fields.status).json(fields.body);
    Object.assign(hook, fields, typeof url === "string" ? { url } : {});
    res.json(hookView(hook));
  });

  router.delete("/projects/:id/hooks/:hookId", (req, res) => {
    const p = projectFor(state, req, res, "maintainer");
    if (!p) return;
    const i = state.hooks.findIndex((h) => h.project_id === p.id && h.id === Number(req.params.hookId));
    if (i < 0) return notFound(res, "Not found");
    state.hooks.splice(i, 1);
    res.status(204).end();
  });
};
