"""Colours and CSS shared by every page.

Panel renders each pane inside its own shadow root, so page CSS does not reach it: every HTML
pane is given `STYLES` as a stylesheet. Colours are chosen to read on both the light and the
dark theme (semi-transparent fills, `currentColor` text); the wall has its own high-contrast set.
"""

LEVEL_COLORS = {
    "ok": "#16a34a",
    "warn": "#d97706",
    "alert": "#dc2626",
    "nodata": "#64748b",
    "info": "#2563eb",
}
STATUS_COLORS = {
    "connected": "#16a34a",
    "connecting": "#2563eb",
    "reconnecting": "#d97706",
    "error": "#dc2626",
    "disconnected": "#64748b",
}
SUBSCRIBE_COLORS = {
    "SUBSCRIBED": "#16a34a",
    "JOINING": "#2563eb",
    "CHANNEL_ERROR": "#dc2626",
    "TIMED_OUT": "#d97706",
    "CLOSED": "#64748b",
}
KIND_COLORS = {
    "broadcast": "#2563eb",
    "postgres_changes": "#16a34a",
    "presence": "#9333ea",
    "system": "#d97706",
}
PALETTE = [
    "#2563eb",
    "#16a34a",
    "#9333ea",
    "#d97706",
    "#dc2626",
    "#0891b2",
    "#db2777",
    "#65a30d",
    "#7c3aed",
    "#ea580c",
]

STYLES = """
:host { --rm-muted: 0.72; }
.rm-tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr));
  gap: 12px; width: 100%; }
.rm-tile { border-radius: 10px; padding: 10px 14px; background: rgba(127,127,127,0.10);
  border-left: 6px solid var(--lvl, #64748b); min-width: 0; }
.rm-tile .label { font-size: 12px; opacity: var(--rm-muted); text-transform: uppercase;
  letter-spacing: .05em; white-space: nowrap; }
.rm-tile .value { font-size: 30px; font-weight: 700; line-height: 1.2;
  font-variant-numeric: tabular-nums; white-space: nowrap; }
.rm-tile .sub { font-size: 12px; opacity: var(--rm-muted); white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.rm-badge { display: inline-flex; align-items: center; gap: 10px; padding: 6px 14px;
  border-radius: 999px; font-weight: 700; color: white; background: var(--st, #64748b); }
.rm-badge .dot { width: 10px; height: 10px; border-radius: 50%; background: white; }
.rm-status { display: flex; flex-wrap: wrap; align-items: center; gap: 14px; font-size: 14px; }
.rm-status .detail { opacity: var(--rm-muted); }
.rm-status .reason { color: #dc2626; font-weight: 600; }
.rm-chlat .title { font-weight: 700; font-size: 14px; margin-bottom: 4px; }
.rm-chlat table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
.rm-chlat th { text-align: right; font-weight: 600; opacity: var(--rm-muted); padding: 2px 10px; }
.rm-chlat td { text-align: right; padding: 2px 10px; border-top: 1px solid rgba(127,127,127,.2); }
.rm-chlat th:first-child, .rm-chlat td.ch { text-align: left; }
.rm-chlat td.p95 { font-weight: 700; color: var(--lvl); }
.rm-chlat .more { font-size: 12px; opacity: var(--rm-muted); margin-top: 2px; }
.rm-chips { display: flex; flex-wrap: wrap; gap: 6px; }
.rm-chip { border-radius: 6px; padding: 2px 8px; font-size: 12px; color: white;
  background: var(--st, #64748b); }
.rm-slots { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
  gap: 14px; width: 100%; }
.rm-slot { border-radius: 12px; padding: 12px 16px; background: rgba(127,127,127,0.10);
  border: 1px solid rgba(127,127,127,0.25); }
.rm-slot .title { font-weight: 700; font-size: 15px; display: flex;
  justify-content: space-between; gap: 8px; }
.rm-slot .title .meta { font-weight: 400; font-size: 12px; opacity: var(--rm-muted); }
.rm-counters { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px; margin-top: 8px; }
.rm-counter .num { font-size: 34px; font-weight: 800; line-height: 1.1; display: inline-block;
  font-variant-numeric: tabular-nums; }
.rm-counter .lbl { font-size: 11px; opacity: var(--rm-muted); text-transform: uppercase; }
.rm-counter svg { display: block; margin-top: 4px; }
.rm-counter .up { color: #16a34a; } .rm-counter .down { color: #dc2626; }
.rm-bump { animation: rm-bump 1.2s ease-out; }
@keyframes rm-bump { 0% { transform: scale(1.45); color: #0ea5e9; }
  60% { transform: scale(1.05); } 100% { transform: scale(1); } }
.rm-empty { opacity: var(--rm-muted); font-style: italic; padding: 12px; }
.rm-note { font-size: 13px; opacity: var(--rm-muted); }
.rm-alert { border-radius: 8px; padding: 8px 12px; background: rgba(220,38,38,0.15);
  color: #dc2626; font-weight: 600; }
.rm-stale { color: #d97706; font-weight: 600; }
"""

# The wall is laid out in `--u`, one hundredth of the viewport's width on a 16:9 screen (and less
# on a taller one), so 1280x720, 1920x1080 and 3840x2160 show the same page at their own scale:
# at 1920x1080 one u is 19.2 px. The vertical budget at 16:9 is 56 u.
WALL_STYLES = """
.rm-wall { --u: min(1vw, 1.7778vh); background: #000; color: #f8fafc; width: 100%;
  overflow: hidden; box-sizing: border-box;
  font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
.rm-wall * { box-sizing: border-box; }
.rm-wall-head { display: flex; align-items: center; justify-content: space-between;
  padding: calc(var(--u) * 0.8) calc(var(--u) * 1.4) calc(var(--u) * 0.4); }
.rm-wall-title { font-size: calc(var(--u) * 1.8); font-weight: 800; letter-spacing: .02em;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.rm-wall-clock { font-size: calc(var(--u) * 1.6); font-variant-numeric: tabular-nums;
  opacity: .85; white-space: nowrap; }
.rm-wall-status { font-size: calc(var(--u) * 1.8); font-weight: 800;
  padding: calc(var(--u) * 0.3) calc(var(--u) * 1.1); border-radius: 999px; color: #000;
  background: var(--st, #64748b); white-space: nowrap; }
.rm-stale { background: #dc2626; color: #fff; font-size: calc(var(--u) * 2);
  font-weight: 900; text-align: center; padding: calc(var(--u) * 0.5); letter-spacing: .04em;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.rm-wall-tiles { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr));
  gap: calc(var(--u) * 0.9); padding: calc(var(--u) * 0.5) calc(var(--u) * 1.4); }
.rm-wall-tile { border-radius: calc(var(--u) * 0.7); min-width: 0;
  padding: calc(var(--u) * 0.6) calc(var(--u) * 1.1); background: #111827;
  border-top: calc(var(--u) * 0.5) solid var(--lvl, #64748b); }
.rm-wall-tile .label { font-size: calc(var(--u) * 1.1); text-transform: uppercase;
  letter-spacing: .06em; color: #cbd5e1; white-space: nowrap; }
.rm-wall-tile .value { font-size: calc(var(--u) * 3.2); font-weight: 900; line-height: 1.05;
  font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.rm-wall-tile .sub { font-size: calc(var(--u) * 1); color: #94a3b8; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.rm-wall-trends { display: grid; grid-template-columns: 1fr 1fr; gap: calc(var(--u) * 0.9);
  padding: calc(var(--u) * 0.3) calc(var(--u) * 1.4); }
.rm-wall-trend { background: #0b1220; border-radius: calc(var(--u) * 0.7);
  padding: calc(var(--u) * 0.4) calc(var(--u) * 1.1); min-width: 0; color: #38bdf8; }
.rm-wall-trend .label { font-size: calc(var(--u) * 1); text-transform: uppercase;
  letter-spacing: .06em; color: #cbd5e1; display: flex; justify-content: space-between; }
.rm-wall-trend .now { color: #f8fafc; font-weight: 800; font-variant-numeric: tabular-nums; }
.rm-wall-trend svg { display: block; width: 100%; height: calc(var(--u) * 6); }
.rm-wall-trend polyline { stroke-width: 3; opacity: 1; }
.rm-wall-chips { display: flex; flex-wrap: wrap; gap: calc(var(--u) * 0.4);
  padding: calc(var(--u) * 0.3) calc(var(--u) * 1.4); max-height: calc(var(--u) * 4.4);
  overflow: hidden; }
.rm-wall-chip { border-radius: calc(var(--u) * 0.3); color: #000; font-weight: 700;
  font-size: calc(var(--u) * 1); padding: calc(var(--u) * 0.2) calc(var(--u) * 0.6);
  background: var(--st, #64748b); white-space: nowrap; max-width: calc(var(--u) * 22);
  overflow: hidden; text-overflow: ellipsis; }
.rm-wall-slots { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr));
  gap: calc(var(--u) * 0.9); padding: calc(var(--u) * 0.4) calc(var(--u) * 1.4); }
.rm-wall .rm-slot { background: #0f172a; border: 2px solid #1e293b; min-width: 0;
  border-radius: calc(var(--u) * 0.7); padding: calc(var(--u) * 0.5) calc(var(--u) * 1); }
.rm-wall .rm-slot .title { font-size: calc(var(--u) * 1.2); color: #e2e8f0; }
.rm-wall .rm-slot .title span { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.rm-wall .rm-slot .title .meta { font-size: calc(var(--u) * 0.85); color: #94a3b8; }
.rm-wall .rm-counter { min-width: 0; }
.rm-wall .rm-counter .num { font-size: calc(var(--u) * 2.6); }
.rm-wall .rm-counters { margin-top: calc(var(--u) * 0.3); }
.rm-wall .rm-counter svg { width: 100%; height: calc(var(--u) * 1.2); }
.rm-wall .rm-note { font-size: calc(var(--u) * 0.8); color: #94a3b8;
  margin-top: calc(var(--u) * 0.2); }
.rm-wall .rm-counter .lbl { font-size: calc(var(--u) * 0.8); color: #cbd5e1; }
.rm-wall .rm-empty { font-size: calc(var(--u) * 1.4); color: #cbd5e1; font-style: normal;
  padding: calc(var(--u) * 1) calc(var(--u) * 1.4); }
"""
