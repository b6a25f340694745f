// Up to N supabase-js clients on one presence + broadcast channel, driven step by step over stdin
// (benchmarks/load_presence.py). Each client is its own `createClient(url, anonKey)` with its own
// websocket, as a browser tab would be, and uses the channel as seed 004's dashboard does: a
// presence `sync` listener, `track({user_id, user_name, online_at})` once SUBSCRIBED, and a
// broadcast listener; a tracked client also broadcasts a `cursor-move` every `broadcast_every_ms`
// (jittered).
//
//   node benchmarks/js/load_clients.mjs '<json config>'
//
// Config: url, key (anon key), topic, clients (slots, default 200), broadcast_every_ms (default
// 5000), seed (PRNG seed for which clients churn, default 1).
//
// stdin, one JSON command a line, run one after another:
//   {"id": 3, "op": "join", "n": 50}     n idle slots: subscribe, then track
//   {"id": 4, "op": "leave", "n": 20, "how": "unsubscribe" | "untrack" | "disconnect"}
//        n tracked slots stop being tracked: leave the channel (phx_leave), untrack and stay
//        joined, or close the socket without a word (a tab closed)
//   {"id": 5, "op": "update", "n": 50}   n tracked slots track again with a new payload
//   {"id": 6, "op": "quit"}
// stdout:
//   READY
//   TRUTH <epoch ms> <tracked>   whenever the number of tracked clients changes: a client counts
//        from the moment the server acknowledged its track ("ok") until its leave was
//        acknowledged (unsubscribe, untrack) or its socket closed (disconnect)
//   DONE <id> <json>             a command finished: {ok, failed, ms, errors}
//   RESULT <json>                at quit: broadcasts sent/received, errors, joins, leaves
//
// supabase-js is loaded from tests/js/node_modules (the conformance tests' install).

import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'

const require = createRequire(new URL('../../tests/js/package.json', import.meta.url))
const { createClient } = require('@supabase/supabase-js')
const WebSocket = require('ws')

const config = JSON.parse(process.argv[2] ?? '{}')
const N = config.clients ?? 200
const TOPIC = config.topic ?? 'load-room'
const EVERY_MS = config.broadcast_every_ms ?? 5000
const STEP_TIMEOUT_MS = 30_000

// mulberry32: which slots churn is the same on every run
let seed = (config.seed ?? 1) >>> 0
function random() {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const stats = {
  sent: 0,
  send_errors: 0,
  received: 0,
  syncs: 0,
  joins: 0,
  leaves: { unsubscribe: 0, untrack: 0, disconnect: 0 },
  updates: 0,
  clients_created: 0,
  errors: [],
}

function note(err) {
  if (stats.errors.length < 20) stats.errors.push(String(err?.message ?? err))
}

let tracked = 0
function truth(delta) {
  tracked += delta
  process.stdout.write(`TRUTH ${Date.now()} ${tracked}\n`)
}

class Slot {
  constructor(i) {
    this.i = i
    this.client = null
    this.channel = null
    this.tracked = false
    this.rev = 0
    this.nextSend = 0
  }

  payload() {
    return {
      user_id: `user-${this.i}`,
      user_name: `Organiser ${this.i}`,
      online_at: new Date().toISOString(),
      rev: this.rev,
    }
  }

  ensureClient() {
    if (this.client) return
    this.client = createClient(config.url, config.key, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      realtime: { transport: WebSocket },
    })
    stats.clients_created += 1
  }

  /** Subscribe (unless still joined after an untrack), then track: the seed's flow. */
  async join() {
    this.ensureClient()
    if (!this.channel) {
      const channel = this.client
        .channel(TOPIC, { config: { broadcast: { self: false } } })
        .on('presence', { event: 'sync' }, () => {
          stats.syncs += 1
        })
        .on('broadcast', { event: 'cursor-move' }, () => {
          stats.received += 1
        })
      this.channel = channel
      const status = await new Promise((resolve) => {
        let first = true
        channel.subscribe((s, err) => {
          // later statuses (CLOSED, or CHANNEL_ERROR when a disconnect closes the socket) are
          // the churn's own doing, not failures
          if (first && s !== 'SUBSCRIBED' && err) note(err)
          first = false
          resolve(s)
        })
      })
      if (status !== 'SUBSCRIBED') throw new Error(`slot ${this.i}: ${status}`)
    }
    const status = await this.channel.track(this.payload())
    if (status !== 'ok') throw new Error(`slot ${this.i}: track ${status}`)
    this.tracked = true
    this.nextSend = Date.now() + random() * EVERY_MS
    stats.joins += 1
    truth(+1)
  }

  async leave(how) {
    this.tracked = false // no more broadcasts from this slot
    if (how === 'untrack') {
      const status = await this.channel.untrack()
      if (status !== 'ok') throw new Error(`slot ${this.i}: untrack ${status}`)
    } else if (how === 'unsubscribe') {
      const status = await this.client.removeChannel(this.channel)
      if (status !== 'ok') throw new Error(`slot ${this.i}: removeChannel ${status}`)
      this.channel = null
    } else if (how === 'disconnect') {
      await this.client.realtime.disconnect()
      this.client = null // the tab is gone; a rejoin is a new client
      this.channel = null
    } else {
      throw new Error(`unknown leave ${how}`)
    }
    stats.leaves[how] += 1
    truth(-1)
  }

  async update() {
    this.rev += 1
    const status = await this.channel.track(this.payload())
    if (status !== 'ok') throw new Error(`slot ${this.i}: re-track ${status}`)
    stats.updates += 1
  }
}

const slots = Array.from({ length: N }, (_, i) => new Slot(i))

function pick(candidates, n) {
  const pool = [...candidates]
  const out = []
  while (out.length < n && pool.length) out.push(pool.splice(Math.floor(random() * pool.length), 1)[0])
  return out
}

async function run(cmd) {
  let chosen
  if (cmd.op === 'join') chosen = slots.filter((s) => !s.tracked).slice(0, cmd.n)
  else chosen = pick(slots.filter((s) => s.tracked), cmd.n)
  const act = {
    join: (s) => s.join(),
    leave: (s) => s.leave(cmd.how),
    update: (s) => s.update(),
  }[cmd.op]
  if (!act) throw new Error(`unknown op ${cmd.op}`)
  const started = Date.now()
  const results = await Promise.allSettled(
    chosen.map((s) =>
      Promise.race([
        act(s),
        new Promise((_, reject) => setTimeout(() => reject(new Error('step timeout')), STEP_TIMEOUT_MS)),
      ]),
    ),
  )
  const failed = results.filter((r) => r.status === 'rejected')
  failed.forEach((r) => note(r.reason))
  return { ok: results.length - failed.length, failed: failed.length, ms: Date.now() - started }
}

// Broadcasts: every tracked client sends one cursor-move about every EVERY_MS.
const ticker = setInterval(() => {
  const now = Date.now()
  for (const s of slots) {
    if (!s.tracked || now < s.nextSend) continue
    s.nextSend = now + EVERY_MS * (0.5 + random())
    s.channel
      .send({
        type: 'broadcast',
        event: 'cursor-move',
        payload: { userId: `user-${s.i}`, position: { x: s.i, y: now % 1000 }, sent_at: now },
      })
      .then((status) => {
        if (status === 'ok') stats.sent += 1
        else stats.send_errors += 1
      })
  }
}, 50)

process.stdout.write('READY\n')
truth(0)
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue
  const cmd = JSON.parse(line)
  if (cmd.op === 'quit') break
  let done
  try {
    done = await run(cmd)
  } catch (err) {
    note(err)
    done = { ok: 0, failed: cmd.n ?? 0, ms: 0 }
  }
  process.stdout.write(`DONE ${cmd.id} ${JSON.stringify(done)}\n`)
}
clearInterval(ticker)
await Promise.allSettled(slots.filter((s) => s.client).map((s) => s.client.removeAllChannels()))
process.stdout.write(`RESULT ${JSON.stringify({ ...stats, tracked })}\n`)
process.exit(0)
