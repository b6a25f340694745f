// supabase-js against a sandbox over its tenant's messages-per-second limit (issue 11, item 4).
//
//   node limits.mjs '<json config>'
//
// Config: url, key (anon key), vsn ("2.0.0" or "1.0.0"), topic, rate (messages per second the
// sender sends; default 200).
//
// A receiver joins `topic` and listens for broadcasts and system messages; a sender on its own
// client joins the same topic and sends `rate` broadcasts a second until the receiver's channel
// is closed by the server. Prints `RESULT {...}` with what the receiver saw, then exits 0; exits 1
// if the channel was not closed within the deadline.

import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'

const DEADLINE_MS = 20_000
const SETTLE_MS = 300

const config = JSON.parse(process.argv[2] ?? '{}')
let step = 'start'
setTimeout(() => {
  console.error(`limits.mjs: no result within ${DEADLINE_MS} ms while: ${step}`)
  process.exit(1)
}, DEADLINE_MS)

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A `ws` transport that keeps every text frame received, in either envelope. */
function tapped(frames) {
  return class extends WebSocket {
    constructor(...args) {
      super(...args)
      this.on('message', (data, isBinary) => {
        if (!isBinary) {
          const m = JSON.parse(data.toString('utf8'))
          frames.push(Array.isArray(m) ? { topic: m[2], event: m[3], payload: m[4] } : m)
        }
      })
    }
  }
}

function makeClient(frames = []) {
  const realtime = { transport: tapped(frames) }
  if (config.vsn === '1.0.0') realtime.vsn = '1.0.0'
  return createClient(config.url, config.key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime,
  })
}

function subscribe(channel) {
  const statuses = []
  const first = new Promise((resolve) => {
    channel.subscribe((status) => {
      statuses.push(status)
      resolve(status)
    })
  })
  return { statuses, first }
}

const frames = []
const receiver = makeClient(frames)
const sender = makeClient()
const system = []
let received = 0
const rx = receiver
  .channel(config.topic)
  .on('broadcast', { event: '*' }, () => {
    received += 1
  })
  .on('system', {}, (payload) => system.push(payload))
const rxSub = subscribe(rx)
const tx = sender.channel(config.topic)
const txSub = subscribe(tx)
step = 'subscribing'
if ((await rxSub.first) !== 'SUBSCRIBED' || (await txSub.first) !== 'SUBSCRIBED') {
  console.error(`limits.mjs: not subscribed: ${rxSub.statuses} ${txSub.statuses}`)
  process.exit(1)
}

step = 'sending until the receiver is closed'
const every = 1000 / (config.rate ?? 200)
let sent = 0
const started = Date.now()
while (!rxSub.statuses.includes('CLOSED')) {
  await tx.send({ type: 'broadcast', event: 'flood', payload: { n: sent } })
  sent += 1
  const due = started + sent * every
  if (due > Date.now()) await sleep(due - Date.now())
}
const closedAfterMs = Date.now() - started
await sleep(SETTLE_MS)

const events = frames.filter((m) => m.topic === `realtime:${config.topic}`).map((m) => m.event)
const result = {
  vsn: receiver.realtime.vsn,
  statuses: [...rxSub.statuses],
  sender_statuses: [...txSub.statuses],
  state: rx.state,
  system,
  sent,
  received,
  closed_after_ms: closedAfterMs,
  last_events: events.slice(-3),
}
await Promise.all([receiver.removeAllChannels(), sender.removeAllChannels()])
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
process.exit(0)
