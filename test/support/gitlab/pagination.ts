import type { Request, Response } from "express";

/** GitLab's offset pagination limits (https://docs.gitlab.com/api/rest/#offset-based-pagination). */
export const DEFAULT_PER_PAGE = 20;
export const MAX_PER_PAGE = 100;

/** Grape's coercion of an Integer parameter: a whole number, or the 400 GitLab answers. */
function intParam(req: Request, name: string): number | undefined | "invalid" {
  const raw = req.query[name];
  if (raw === undefined || raw === "") return undefined;
  if (typeof raw !== "string" || !/^-?\d+$/.test(raw.trim())) return "invalid";
  return Number(raw);
}

/**
 * Answers one page of `items` as GitLab's `paginate` does: `page` (default 1) and `per_page`
 * (default 20, at most 100) select the slice, and the X-Page, X-Per-Page, X-Next-Page,
 * X-Prev-Page, X-Total, X-Total-Pages and Link (prev, next, first, last) headers describe it.
 */
export function paginate<T>(req: Request, res: Response, items: T[], baseUrl: string): T[] | undefined {
  const page = intParam(req, "page");
  const perPageRaw = intParam(req, "per_page");
  if (page === "invalid") return void res.status(400).json({ error: "page is invalid" });
  if (perPageRaw === "invalid") return void res.status(400).json({ error: "per_page is invalid" });
  if (perPageRaw === 0) return void res.status(400).json({ error: "per_page has a value not allowed" });
  // Kaminari reads a page below 1 as the first and caps per_page at GitLab's maximum.
  const current = page === undefined || page < 1 ? 1 : page;
  const perPage = perPageRaw === undefined || perPageRaw < 0 ? DEFAULT_PER_PAGE : Math.min(perPageRaw, MAX_PER_PAGE);
  const totalPages = Math.max(1, Math.ceil(items.length / perPage));
  const next = current < totalPages ? current + 1 : undefined;
  const prev = current > 1 && current <= totalPages ? current - 1 : undefined;
  const href = (p: number) => {
    const q = new URLSearchParams();
    const params: Record<string, string> = { ...(req.query as Record<string, string>), page: String(p), per_page: String(perPage) };
    for (const k of Object.keys(params).sort()) q.set(k, String(params[k]));
    return `${baseUrl}${req.baseUrl}${req.path}?${q.toString()}`;
  };
  const links = [
    ...(prev ? [`<${href(prev)}>; rel="prev"`] : []),
    ...(next ? [`<${href(next)}>; rel="next"`] : []),
    `<${href(1)}>; rel="first"`,
    `<${href(totalPages)}>; rel="last"`,
  ];
  res.set({
    "X-Per-Page": String(perPage),
    "X-Page": String(current),
    "X-Next-Page": next ? String(next) : "",
    "X-Prev-Page": prev ? String(prev) : "",
    Link: links.join(", "),
    "X-Total": String(items.length),
    "X-Total-Pages": String(totalPages),
  });
  return items.slice((current - 1) * perPage, current * perPage);
}
