import type { App, AuditEntry, Build, DependencyReport, Environment, Release } from "@hoist/shared";
import { releaseEnvironment } from "../domain/approvals.js";
import type { previewView } from "../domain/previews.js";
import { scaleView } from "../domain/views.js";
import type { DeliveryMetrics } from "./delivery-metrics.js";
import { duration, Html, html, layout, statusBadge } from "./html.js";
import type { LogEntry } from "./ports.js";
import type { StageView } from "./timeline.js";

/**
 * The dashboard's only scripts, kept as constants so the Content-Security-Policy can allow exactly
 * them by hash (see http/security-headers.ts) and nothing else.
 */
export const CONFIRM_HANDLER = "return confirm(this.dataset.q)";
export const LOG_FOLLOW_SCRIPT = `
(function () {
  var pre = document.getElementById("log");
  pre.textContent = "";
  var es = new EventSource(location.pathname + "/log-stream");
  es.onmessage = function (ev) {
    var e = JSON.parse(ev.data);
    pre.textContent += "[" + e.step + "] " + e.line + "\\n";
    pre.scrollTop = pre.scrollHeight;
    var stage = (e.step || "").split(/[\\s:]/)[0];
    var el = document.querySelector('[data-stage="' + stage + '"]');
    if (el && !el.classList.contains("done")) { document.querySelectorAll(".stage.active").forEach(function (x) { x.classList.remove("active"); x.classList.add("done"); }); el.classList.add("active"); }
  };
  es.addEventListener("end", function () { es.close(); setTimeout(function () { location.reload(); }, 300); });
})();
`;

type Session = { csrf: string };
const short = (sha: string) => sha.slice(0, 8);
const when = (iso: string | undefined) => (iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "–");

export function loginPage(tokenFile: string, error?: string, gitlab = false): string {
  return layout(
    "Sign in",
    html`<h1>Sign in</h1>
${gitlab ? html`<p><a id="gitlab-sign-in" href="/login/gitlab"><button type="button">Sign in with GitLab</button></a></p><p class="muted">or with an API token:</p>` : ""}
<form method="post" action="/login">
<p><label>API token<br><input type="password" name="token" autocomplete="current-password" size="48" autofocus required></label></p>
<p class="muted" id="token-hint">The token is the API's <code>HOIST_API_TOKEN</code>, or an API token made with <code>hoist tokens create</code>. <code>pnpm start</code> keeps the one it made in
<code>$HOIST_DATA_DIR/api-token</code> (here: <code>${tokenFile}</code>): <code>cat ${tokenFile}</code></p>
${error ? html`<p class="error">${error}</p>` : ""}
<p><button>Sign in</button></p></form>`,
  );
}

/** A POST form button; the browser asks before anything happens. */
function action(
  session: Session,
  path: string,
  label: string,
  question: string,
  danger = false,
  fields: Record<string, string> = {},
): Html {
  return html`<form method="post" action="${path}" style="display:inline" onsubmit="${new Html(CONFIRM_HANDLER)}" data-q="${question}">
<input type="hidden" name="csrf" value="${session.csrf}">${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}<button class="${danger ? "danger" : ""}">${label}</button></form>`;
}

/** One environment on the app page: what is live in it and what waits (newer releases not finished). */
export interface EnvironmentColumn {
  env: Environment;
  live?: Release;
  waiting: Release[];
}

function targetText(t: App["target"]): string {
  if (t.kind === "ecs") return `ECS ${t.cluster}/${t.service}`;
  return (
    Object.entries(t.services)
      // A service may have a port, host names (a preview's have no port), or both.
      .map(([s, c]) => [s, ...(c.port !== undefined ? [`:${c.port}`] : []), ...(c.hosts ?? [])].join(" "))
      .join(", ") || "local"
  );
}

/**
 * The app's environments side by side, in their order (production first): target, what is live,
 * what waits, approvals and freezes, and buttons promoting into each what is live in another
 * (when it is other images than its own).
 */
function environmentsPanel(session: Session, app: App, columns: EnvironmentColumn[]): Html {
  return html`<h2>Environments</h2><div class="envs" id="environments">${columns.map((c) => {
    const sources = columns.filter((o) => o !== c && o.live && o.live.buildId !== c.live?.buildId);
    const promote = sources.map((o) => {
      const live = o.live as Release;
      return action(
        session,
        `/apps/${app.name}/environments/${c.env.name}/promote`,
        `Promote #${live.number} from ${o.env.name}`,
        `Deploy release #${live.number} of ${o.env.name} (the same images) to ${c.env.name}?`,
        false,
        { releaseId: live.id },
      );
    });
    return html`<div class="card env" data-environment="${c.env.name}"><b>${c.env.name}</b>
<span class="muted">${targetText(c.env.target)}${c.env.auto ? " · auto" : ""}${c.env.requiredApprovals ? ` · ${c.env.requiredApprovals} approval(s)` : ""}${c.env.freezes.length ? ` · ${c.env.freezes.length} freeze(s)` : ""}</span>
<p data-live>${c.live ? html`live: release #${c.live.number} (<a href="/builds/${c.live.buildId}">build</a>) ${when(c.live.liveAt)}` : html`<span class="muted">nothing live</span>`}</p>
${c.waiting.length ? html`<p data-waiting>waiting: ${c.waiting.map((r) => html`#${r.number} ${statusBadge(r.status)} ${approveButton(session, app, r)}`)}</p>` : ""}
${promote}</div>`;
  })}</div>`;
}

/** The Approve button of a release awaiting approval (people only; one approval each); nothing for any other. */
function approveButton(session: Session, app: App, r: Release): Html | string {
  if (r.status !== "awaiting_approval") return "";
  const env = releaseEnvironment(r);
  return action(
    session,
    `/apps/${app.name}/environments/${env}/releases/${r.id}/approve`,
    "Approve",
    `Approve release #${r.number} of ${app.name} (${env})? ${r.approvals?.length ?? 0} of ${r.requiredApprovals ?? 0} so far.`,
  );
}

export interface PipelineRow {
  app: App;
  live?: Release;
  lastBuild?: Build;
  /** The newest release: a build can succeed while its release fails, and the row must show both. */
  lastRelease?: Release;
}

/** Workers' dependencies that are down, as one warning each; a table of all of them below the pipelines. */
function workersSection(workers: DependencyReport[]): { banner: Html | string; table: Html | string } {
  const down = workers.flatMap((w) => w.dependencies.filter((d) => !d.ok).map((d) => ({ service: w.service, ...d })));
  const banner = down.length
    ? html`<div class="error" id="dependencies-down">${down.map((d) => html`<p><b>${d.service}</b>: ${d.reason} <span class="muted">(since ${when(d.since)})</span></p>`)}</div>`
    : "";
  const table = workers.length
    ? html`<h2>Workers</h2><table id="workers"><thead><tr><th>Service</th><th>Process</th><th>Dependency</th><th>Where</th><th>State</th></tr></thead><tbody>
${workers.flatMap((w) =>
  w.dependencies.map(
    (
      d,
    ) => html`<tr data-dependency="${w.service}/${d.name}"><td>${w.service}</td><td class="muted">${w.instance}</td><td>${d.name}</td><td><code>${d.where}</code></td>
<td>${d.ok ? html`<span class="status succeeded">up</span>` : html`<span class="status failed">down</span> ${d.reason ?? ""}`}</td></tr>`,
  ),
)}</tbody></table>`
    : "";
  return { banner, table };
}

export function pipelinesPage(session: Session, rows: PipelineRow[], workers: DependencyReport[] = []): string {
  const { banner, table } = workersSection(workers);
  return layout(
    "Pipelines",
    html`<h1>Pipelines</h1>${banner}
<table><thead><tr><th>App</th><th>Branch</th><th>Live release</th><th>Last build</th><th>Last release</th><th>Commit</th></tr></thead><tbody>
${rows.map(
  (r) => html`<tr data-app="${r.app.name}"><td><a href="/apps/${r.app.name}">${r.app.name}</a></td><td>${r.app.branch}</td>
<td>${r.live ? html`#${r.live.number} <span class="muted">since ${when(r.live.liveAt)}</span>` : "–"}</td>
<td data-col="build">${r.lastBuild ? html`<a href="/builds/${r.lastBuild.id}">#${r.lastBuild.number}</a> ${statusBadge(r.lastBuild.status)}` : "–"}</td>
<td data-col="release">${
    r.lastRelease
      ? html`#${r.lastRelease.number} ${statusBadge(r.lastRelease.status)}${r.lastRelease.reason ? html` <span class="error">${r.lastRelease.reason}</span>` : ""}`
      : "–"
  }</td>
<td>${r.lastBuild ? html`<code>${short(r.lastBuild.sha)}</code> ${r.lastBuild.commit?.title ?? ""}` : ""}</td></tr>`,
)}
</tbody></table>${rows.length === 0 ? html`<p class="muted">No apps yet: <code>hoist apps create</code>.</p>` : ""}${table}`,
    session,
  );
}

/** Containers per service (local) or desiredCount (ECS): `hoist scale <app> web=3` changes it. */
function scaleLine(app: App): Html | string {
  const scale = Object.entries(scaleView(app));
  if (scale.length === 0) return "";
  return html`<p data-scale>Scale: ${scale.map(([s, n]) => html`<code>${s}=${n}</code> `)}<span class="muted">(<code>hoist scale ${app.name} ${scale[0]?.[0] ?? "web"}=N</code>)</span></p>`;
}

/** A merge request preview on the app page, as `GET /v1/apps/:app/previews` shows it. */
type PreviewRow = ReturnType<typeof previewView>;

/** Only http(s) links are made links: a URL from a webhook payload is never a `javascript:` href. */
const webLink = (url: string | undefined, text: string | Html): Html | string =>
  url && /^https?:\/\//.test(url) ? html`<a href="${url}" rel="noreferrer">${text}</a>` : text;

/** The app's merge request previews (docs/previews.md), most recently updated first, each with its MR's link. */
function previewsPanel(app: App, previews: PreviewRow[]): Html {
  return html`<h2>Previews</h2>
<table id="previews"><thead><tr><th>MR</th><th>Title</th><th>Status</th><th>URL</th><th>Commit</th><th>Updated</th></tr></thead><tbody>
${previews.map(
  (p) => html`<tr data-preview="${p.iid}"><td data-col="mr">${webLink(p.mrUrl, `!${p.iid}`)}</td><td>${p.title ?? ""}</td>
<td>${statusBadge(p.status)}</td><td data-col="url">${p.status === "live" ? webLink(p.url, p.url) : p.url}</td><td><code>${short(p.sha)}</code></td><td>${when(p.updatedAt)}</td></tr>`,
)}</tbody></table>
<p class="muted">Stop one: <code>hoist previews ${app.name} stop &lt;iid&gt;</code></p>`;
}

export function appPage(
  session: Session,
  app: App,
  builds: Build[],
  releases: Release[],
  environments: EnvironmentColumn[] = [],
  previews: PreviewRow[] = [],
): string {
  const live = releases.find((r) => r.status === "live");
  return layout(
    app.name,
    html`<h1>${app.name}</h1>
<p class="muted">${app.repo.sshUrl} · branch <code>${app.branch}</code> · target ${app.target.kind}
${live ? html` · live: release #${live.number}` : ""}</p>
${scaleLine(app)}
${environments.length > 1 ? environmentsPanel(session, app, environments) : ""}
${previews.length ? previewsPanel(app, previews) : ""}
<p>${action(session, `/apps/${app.name}/rollback`, "Roll back", `Roll ${app.name} back to the release before the live one?`, true)}</p>
<h2>Builds</h2>
<table><thead><tr><th>#</th><th>Status</th><th>Ref</th><th>Commit</th><th>Created</th><th>Reason</th></tr></thead><tbody>
${builds.map(
  (
    b,
  ) => html`<tr><td><a href="/builds/${b.id}">#${b.number}</a></td><td>${statusBadge(b.status)}</td><td>${b.ref.replace(/^refs\/(heads|tags)\//, "")}</td>
<td><code>${short(b.sha)}</code> ${b.commit?.title ?? ""}</td><td>${when(b.createdAt)}</td><td>${b.reason ?? ""}</td></tr>`,
)}</tbody></table>
<h2>Releases${environments.length > 1 ? " (production)" : ""}</h2>
<table><thead><tr><th>#</th><th>Status</th><th>Build</th><th>Created</th><th>Live at</th><th>Reason</th><th></th></tr></thead><tbody>
${releases.map(
  (
    r,
  ) => html`<tr data-release="${r.number}"><td>#${r.number}</td><td>${statusBadge(r.status)}</td><td><a href="/builds/${r.buildId}">build</a></td>
<td>${when(r.createdAt)}</td><td>${when(r.liveAt)}</td><td>${r.reason ?? ""}</td>
<td>${
    r.status === "awaiting_approval"
      ? approveButton(session, app, r)
      : r.status === "live" || r.status === "frozen"
        ? ""
        : action(session, `/apps/${app.name}/releases/${r.id}/promote`, "Promote", `Deploy release #${r.number} of ${app.name} again?`)
  }</td></tr>`,
)}</tbody></table>`,
    session,
  );
}

export function buildPage(session: Session, build: Build, release: Release | undefined, stages: StageView[], log: LogEntry[]): string {
  const running = build.status === "queued" || build.status === "running";
  const following = running || release?.status === "pending" || release?.status === "deploying";
  return layout(
    `${build.app} build #${build.number}`,
    html`<h1><a href="/apps/${build.app}">${build.app}</a> build #${build.number} <span id="status">${statusBadge(build.status)}</span></h1>
<p class="muted"><code>${build.sha}</code> on ${build.ref} · ${build.commit?.title ?? ""} ${build.commit?.author ? html`· ${build.commit.author}` : ""}</p>
${build.reason ? html`<p class="error" id="reason">${build.reason}</p>` : ""}
${release ? html`<p>Release #${release.number}: ${statusBadge(release.status)} ${release.reason ?? ""}</p>` : ""}
<div class="timeline" id="timeline">${stages.map(
      (s) =>
        html`<div class="stage ${s.state}" data-stage="${s.stage}">${s.stage}<small>${s.state === "todo" ? "–" : duration(s.seconds)}</small></div>`,
    )}</div>
${running ? html`<p>${action(session, `/builds/${build.id}/cancel`, "Cancel build", `Cancel build #${build.number} of ${build.app}?`, true)}</p>` : ""}
<h2>Log</h2>
<pre class="log" id="log">${log.map((e) => `[${e.step}] ${e.line}\n`).join("")}</pre>
${following ? html`<script>${new Html(LOG_FOLLOW_SCRIPT)}</script>` : ""}`,
    session,
  );
}

function metricsCards(m: DeliveryMetrics): Html {
  const pct = m.changeFailureRate === null ? "–" : `${Math.round(m.changeFailureRate * 1000) / 10} %`;
  return html`<div><div class="card">Deployment frequency<b>${m.deploymentsPerDay}/day</b><span class="muted">${m.deployments} in ${m.windowDays} days</span></div>
<div class="card">Lead time for changes<b>${duration(m.leadTimeSeconds.median)}</b><span class="muted">median · p90 ${duration(m.leadTimeSeconds.p90)}</span></div>
<div class="card">Change failure rate<b>${pct}</b><span class="muted">${m.failures} failed</span></div>
<div class="card">Time to restore<b>${duration(m.timeToRestoreSeconds.median)}</b><span class="muted">median of ${m.timeToRestoreSeconds.samples}</span></div></div>`;
}

export function deliveryPage(session: Session, overall: DeliveryMetrics[], perApp: { app: string; metrics: DeliveryMetrics[] }[]): string {
  return layout(
    "Delivery metrics",
    html`<h1>Delivery metrics</h1>
${overall.map((m) => html`<h2>All apps, last ${m.windowDays} days</h2>${metricsCards(m)}`)}
${perApp.map((a) => html`<h2>${a.app}</h2>${a.metrics.map((m) => html`<h3>Last ${m.windowDays} days</h3>${metricsCards(m)}`)}`)}`,
    session,
  );
}

/** An entry's before/after of settings (masked when written), folded away. */
function changeOf(e: AuditEntry): Html | string {
  if (e.before === undefined && e.after === undefined) return "";
  const change = JSON.stringify({ ...(e.before !== undefined ? { before: e.before } : {}), after: e.after ?? null }, null, 1);
  return html`<details><summary>before/after</summary><pre>${change}</pre></details>`;
}

/** The audit log, newest page first as read, with its filters and a JSON-lines export of the same filter. */
export function auditPage(
  session: Session,
  entries: AuditEntry[],
  filter: { app?: string; actor?: string; since?: string },
  next?: string,
): string {
  const q = new URLSearchParams(Object.entries(filter).filter((e): e is [string, string] => typeof e[1] === "string" && e[1] !== ""));
  const nextQ = next ? new URLSearchParams([...q, ["cursor", next]]) : undefined;
  return layout(
    "Audit log",
    html`<h1>Audit log</h1>
<form method="get" action="/audit"><label>App <input name="app" value="${filter.app ?? ""}"></label>
<label>Actor <input name="actor" value="${filter.actor ?? ""}"></label>
<label>Since <input name="since" value="${filter.since ?? ""}" placeholder="2026-12-01T00:00:00Z"></label> <button>Filter</button>
<a id="audit-export" href="/audit/export?${q.toString()}">Export (JSON lines)</a></form>
<table id="audit"><thead><tr><th>When</th><th>Actor</th><th>Via</th><th>Action</th><th>App</th><th>Environment</th><th>Target</th><th>Change</th><th>Address</th></tr></thead><tbody>
${entries.map(
  (e) =>
    html`<tr data-action="${e.action}"><td>${when(e.at)}</td><td>${e.actor}</td><td>${e.via}</td><td>${e.action}</td><td>${e.app ?? "–"}</td><td>${e.environment ?? "–"}</td><td>${e.target ?? ""}</td><td>${changeOf(e)}</td><td>${e.address ?? ""}</td></tr>`,
)}
</tbody></table>
${nextQ ? html`<p><a href="/audit?${nextQ.toString()}">Next page</a></p>` : ""}`,
    session,
  );
}

/** The signed-in person's API tokens, a form for a new one, and the new token, shown this once. */
export function tokensPage(
  session: Session,
  tokens: { id: string; name: string; role: string; apps?: string[]; lastUsedAt?: string }[],
  made?: { name: string; token: string },
  error?: string,
): string {
  return layout(
    "API tokens",
    html`<h1>API tokens</h1>
${made ? html`<p>Token <b>${made.name}</b>, shown only now (<code>hoist login</code> takes it):</p><pre id="new-token">${made.token}</pre>` : ""}
${error ? html`<p class="error">${error}</p>` : ""}
<table><thead><tr><th>Id</th><th>Name</th><th>Role</th><th>Apps</th><th>Last used</th></tr></thead><tbody>
${tokens.map((t) => html`<tr><td>${t.id}</td><td>${t.name}</td><td>${t.role}</td><td>${t.apps?.join(", ") ?? "all"}</td><td>${when(t.lastUsedAt)}</td></tr>`)}
</tbody></table>
<h2>New token</h2><form method="post" action="/tokens"><input type="hidden" name="csrf" value="${session.csrf}">
<label>Name <input name="name" required></label>
<label>Role <select name="role"><option>viewer</option><option>deployer</option><option>maintainer</option><option>admin</option></select></label>
<label>Apps <input name="apps" placeholder="web,api (empty: all you may)"></label> <button id="create-token">Create</button></form>`,
    session,
  );
}
