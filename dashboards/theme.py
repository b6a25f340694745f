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
"""

WALL_STYLES = """
.rm-wall { background: #000; color: #f8fafc; width: 100%; height: 100%; overflow: hidden;
  font-family: system-ui, -apple-system, "Segoe UI", sans-serif; box-sizing: border-box; }
.rm-wall-head { display: flex; align-items: center; justify-content: space-between;
  padding: 16px 28px 8px; }
.rm-wall-title { font-size: 34px; font-weight: 800; letter-spacing: .02em; }
.rm-wall-clock { font-size: 30px; font-variant-numeric: tabular-nums; opacity: .85; }
.rm-wall-status { font-size: 34px; font-weight: 800; padding: 6px 22px; border-radius: 999px;
  color: #000; background: var(--st, #64748b); }
.rm-stale { background: #dc2626; color: #fff; font-size: 46px; font-weight: 900;
  text-align: center; padding: 14px; letter-spacing: .04em; }
.rm-wall-tiles { display: grid; grid-template-columns: repeat(5, 1fr); gap: 18px;
  padding: 10px 28px; }
.rm-wall-tile { border-radius: 14px; padding: 14px 22px; background: #111827;
  border-top: 10px solid var(--lvl, #64748b); }
.rm-wall-tile .label { font-size: 22px; text-transform: uppercase; letter-spacing: .06em;
  color: #cbd5e1; }
.rm-wall-tile .value { font-size: 76px; font-weight: 900; line-height: 1.05;
  font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden;
  text-overflow: clip; }
.rm-wall-tile .sub { font-size: 20px; color: #94a3b8; }
.rm-wall-slots { display: grid; grid-template-columns: repeat(4, 1fr); gap: 18px;
  padding: 10px 28px; }
.rm-wall .rm-slot { background: #0f172a; border: 2px solid #1e293b; border-radius: 14px;
  padding: 14px 20px; }
.rm-wall .rm-slot .title { font-size: 26px; color: #e2e8f0; }
.rm-wall .rm-slot .title .meta { font-size: 18px; color: #94a3b8; }
.rm-wall .rm-counter .num { font-size: 72px; }
.rm-wall .rm-counters { margin-top: 14px; }
.rm-wall .rm-note { font-size: 16px; color: #94a3b8; margin-top: 8px; }
.rm-wall .rm-counter .lbl { font-size: 17px; color: #cbd5e1; }
.rm-wall .rm-empty { font-size: 28px; color: #cbd5e1; font-style: normal; padding: 20px 28px; }
"""
