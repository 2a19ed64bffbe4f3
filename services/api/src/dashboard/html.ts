const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML bodies and quoted attributes. */
function esc(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** A tagged template whose interpolations are escaped unless they are already-built Html. */
export class Html {
  constructor(readonly value: string) {}
  toString() {
    return this.value;
  }
}
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? "";
  values.forEach((v, i) => {
    const rendered = Array.isArray(v)
      ? v.map((x) => (x instanceof Html ? x.value : esc(x))).join("")
      : v instanceof Html
        ? v.value
        : esc(v);
    out += rendered + (strings[i + 1] ?? "");
  });
  return new Html(out);
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${Math.round(seconds * 10) / 10} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round((seconds / 3600) * 10) / 10} h`;
  return `${Math.round((seconds / 86400) * 10) / 10} d`;
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:20px;align-items:center}
header a{color:#cfd6e4;text-decoration:none}header a:hover{color:#fff}header .brand{font-weight:700;color:#fff;margin-right:12px}
header form{margin-left:auto}main{padding:20px 24px;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff;margin:8px 0 20px}th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e3e6eb}
th{font-size:12px;text-transform:uppercase;color:#5a6475}.status{padding:1px 8px;border-radius:9px;font-size:12px;font-weight:600}
.succeeded,.live{background:#d8f5df;color:#17662b}.failed,.rolled_back{background:#fbe0e0;color:#8b1d1d}
.running,.deploying,.queued,.pending{background:#fff1cc;color:#7a5600}.canceled,.retired{background:#e8eaee;color:#4a5260}
pre.log{background:#10141c;color:#d7dde8;padding:12px;max-height:60vh;overflow:auto;font:12px/1.4 ui-monospace,monospace;white-space:pre-wrap}
.timeline{display:flex;gap:6px;margin:12px 0}.stage{flex:1;background:#fff;border:1px solid #e3e6eb;padding:6px 8px;border-radius:4px}
.stage.done{border-color:#7fcf93}.stage.active{border-color:#e0b400}.stage.bad{border-color:#e07a7a}.stage small{display:block;color:#5a6475}
button{font:inherit;padding:4px 12px;border:1px solid #9aa3b2;border-radius:4px;background:#fff;cursor:pointer}button.danger{border-color:#c55;color:#a22}
.card{background:#fff;padding:12px 16px;border:1px solid #e3e6eb;border-radius:4px;display:inline-block;margin:0 12px 12px 0;min-width:180px}
.card b{display:block;font-size:20px}.muted{color:#5a6475}.error{color:#a22}
.envs{display:flex;flex-wrap:wrap}.env{vertical-align:top}.env p{margin:6px 0}`;

export function layout(title: string, body: Html, session?: { csrf: string }): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · Hoist</title><style>${new Html(STYLE)}</style></head>
<body><header><span class="brand">Hoist</span>${
    session
      ? html`<a href="/">Pipelines</a><a href="/delivery">Delivery metrics</a><a href="/admin/queues">Queues</a><a href="/audit">Audit log</a><a href="/tokens">Tokens</a>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${session.csrf}"><button>Sign out</button></form>`
      : ""
  }</header>
<main>${body}</main></body></html>`.value;
}

export function statusBadge(status: string | undefined): Html {
  return html`<span class="status ${status ?? ""}">${status ?? "–"}</span>`;
}
