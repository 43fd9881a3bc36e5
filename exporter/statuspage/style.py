"""The status page's only style sheet, inlined in the page: no external assets."""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
:root{--bg:#f6f7f9;--fg:#1d232b;--muted:#5f6b7a;--card:#fff;--line:#dde2e8;--head:#eef1f5;
--ok:#11713a;--ok-bg:#dcf3e4;--bad:#a3161b;--bad-bg:#fde1e1;--warn:#8a5300;--warn-bg:#fff0cc;
--off:#444c56;--off-bg:#e6e9ed;--link:#0b57c5;--hot:#fff6f6}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--fg:#e6e9ee;--muted:#9aa5b3;
--card:#1c2027;--line:#2f3540;--head:#232832;--ok:#7ee2a0;--ok-bg:#183a26;--bad:#ff9b9b;
--bad-bg:#4a1c1f;--warn:#ffd27a;--warn-bg:#43351a;--off:#c3cad3;--off-bg:#2c323b;
--link:#8ab4ff;--hot:#2a1d20}}
*{box-sizing:border-box}
body{margin:0;padding:16px 24px 40px;background:var(--bg);color:var(--fg);
font:14px/1.45 "DejaVu Sans",system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
a{color:var(--link)}
h1{font-size:22px;margin:0 16px 0 0;display:inline-block}
h2{font-size:17px;margin:20px 0 6px}
header nav{display:inline-block}
header nav a{margin-right:14px;font-weight:600}
.facts{display:flex;flex-wrap:wrap;gap:8px 28px;margin:12px 0 0;padding:10px 14px;
background:var(--card);border:1px solid var(--line);border-radius:6px}
.facts div{display:flex;gap:8px;align-items:baseline}
.facts dt{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.facts dd{margin:0;font-weight:600}
.counts{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0 0}
.count{padding:6px 12px;border-radius:6px;text-decoration:none;color:var(--fg);
background:var(--card);border:1px solid var(--line)}
.count b{font-size:17px;margin-right:2px}
.count.b-ok{border-color:var(--ok)}.count.b-bad{border-color:var(--bad)}
.count.b-warn{border-color:var(--warn)}.count.b-off{border-color:var(--off)}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line)}
th,td{text-align:left;vertical-align:top;padding:5px 9px;border-bottom:1px solid var(--line)}
th{background:var(--head);font-size:12px;text-transform:uppercase;letter-spacing:.04em;
color:var(--muted);white-space:nowrap}
tbody tr:hover{background:var(--head)}
tr.problem td:first-child{box-shadow:inset 4px 0 0 var(--bad)}
tr.problem{background:var(--hot)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.name{overflow-wrap:anywhere;min-width:24em}
td.empty{color:var(--muted);font-style:italic;text-align:center;padding:14px}
td.rid code{white-space:nowrap;font-size:12px}
.nowrap{white-space:nowrap}
.muted{color:var(--muted)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;
letter-spacing:.03em;white-space:nowrap}
.b-ok{color:var(--ok);background:var(--ok-bg)}.b-bad{color:var(--bad);background:var(--bad-bg)}
.b-warn{color:var(--warn);background:var(--warn-bg)}
.b-off{color:var(--off);background:var(--off-bg)}
.count.b-ok,.count.b-bad,.count.b-warn,.count.b-off{background:var(--card)}
.count.b-bad b{color:var(--bad)}.count.b-warn b{color:var(--warn)}.count.b-ok b{color:var(--ok)}
.chip{display:inline-block;margin:1px 2px 1px 0;padding:0 6px;border-radius:4px;font-size:12px;
background:var(--off-bg);color:var(--off);overflow-wrap:anywhere}
.chip-hot{background:var(--warn-bg);color:var(--warn)}
a.chip{text-decoration:none}a.chip:hover{text-decoration:underline}
td .badge{white-space:nowrap}
.rel{display:block;font-weight:600}
.abs{display:block;font-size:11px;color:var(--muted)}
.err{color:var(--bad);overflow-wrap:anywhere}
.err code{font-weight:700}
code{font-family:"DejaVu Sans Mono",ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
.when{margin-top:2px;font-size:11px;color:var(--muted)}
.facts .muted{font-weight:400}
.filters{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center;margin:8px 0}
.filters input,.filters select,.filters button{font:inherit;padding:3px 6px}
.notice{margin:6px 0;padding:6px 10px;border-left:4px solid var(--warn);
background:var(--warn-bg);color:var(--fg)}
.pager{margin:8px 0;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
.pager .off{color:var(--muted)}
footer{margin-top:28px;color:var(--muted);font-size:12px}
"""
