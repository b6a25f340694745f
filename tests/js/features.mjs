// supabase-js and the Realtime features of issue 11, item 6, against the sandbox.
//
//   node features.mjs <scenario> '<json config>'
//
// Config: url, key (anon key), vsn ("2.0.0" or "1.0.0"), topic, jwt (a user's token for the
// private channel), and per scenario:
//   replay:          since, limit; the client joins the private `topic` with
//                    `broadcast.replay = {since, limit}` and collects what arrives.
//   presence_denied: the client joins the private `topic` (it may read presence, not write it)
//                    and calls track(): realtime-js resolves it with the server's 'error'.
//   faults:          the anon client joins the public `topic`, prints `FAULT 1` (the caller
//                    crashes the channel with phx_error), waits to be joined again, prints
//                    `FAULT 2` (the caller drains the socket) and waits to be joined again.
// Prints `RESULT {...}` and exits 0; exits 1 past its deadline.

import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'

const DEADLINE_MS = 15_000
const SETTLE_MS = 500

const [scenarioName, rawConfig = '{}'] = process.argv.slice(2)
const config = JSON.parse(rawConfig)
let step = 'start'
setTimeout(() => {
  console.error(`features.mjs ${scenarioName}: no result within ${DEADLINE_MS} ms while: ${step}`)
  process.exit(1)
}, DEADLINE_MS)

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A user's client: the JWT is the channel's token (as in scenarios.mjs `private`). */
function makeClient() {
  const realtime = { transport: WebSocket }
  if (config.vsn === '1.0.0') realtime.vsn = '1.0.0'
  return createClient(config.url, config.key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime,
    accessToken: async () => config.jwt,
  })
}

function subscribe(channel) {
  const statuses = []
  const errors = []
  const first = new Promise((resolve) => {
    channel.subscribe((status, err) => {
      statuses.push(status)
      if (err) errors.push(String(err.message ?? err))
      resolve(status)
    })
  })
  return { statuses, errors, first }
}

/** Resolve once `predicate()` holds, checking every 20 ms. */
async function until(predicate) {
  while (!predicate()) await sleep(20)
}

const scenarios = {
  async faults() {
    const realtime = { transport: WebSocket }
    if (config.vsn === '1.0.0') realtime.vsn = '1.0.0'
    const supabase = createClient(config.url, config.key, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      realtime,
    })
    const system = []
    const channel = supabase.channel(config.topic).on('system', {}, (p) => system.push(p))
    const sub = subscribe(channel)
    step = 'waiting for the join'
    await sub.first
    const joined = (n) => sub.statuses.filter((s) => s === 'SUBSCRIBED').length >= n
    process.stdout.write('FAULT 1\n')
    step = 'waiting to be joined again after phx_error'
    await until(() => joined(2))
    process.stdout.write('FAULT 2\n')
    step = 'waiting to be joined again after the drain'
    await until(() => joined(3))
    await sleep(SETTLE_MS)
    const result = { vsn: supabase.realtime.vsn, statuses: [...sub.statuses], system }
    await supabase.removeAllChannels()
    return result
  },

  async replay() {
    const supabase = makeClient()
    await supabase.realtime.setAuth(config.jwt)
    const got = []
    const channel = supabase
      .channel(config.topic, {
        config: { private: true, broadcast: { replay: { since: config.since, limit: config.limit } } },
      })
      .on('broadcast', { event: '*' }, (msg) => got.push(msg))
    const sub = subscribe(channel)
    step = 'waiting for the join'
    await sub.first
    await sleep(SETTLE_MS)
    const result = { vsn: supabase.realtime.vsn, statuses: [...sub.statuses], errors: sub.errors, got }
    await supabase.removeAllChannels()
    return result
  },

  async presence_denied() {
    const supabase = makeClient()
    await supabase.realtime.setAuth(config.jwt)
    const channel = supabase.channel(config.topic, { config: { private: true, presence: { key: 'me' } } })
    channel.on('presence', { event: 'sync' }, () => {})
    const sub = subscribe(channel)
    step = 'waiting for the join'
    await sub.first
    step = 'track'
    const track = await channel.track({ here: true })
    await sleep(SETTLE_MS)
    const result = {
      vsn: supabase.realtime.vsn,
      statuses: [...sub.statuses],
      errors: sub.errors,
      track,
      state: channel.state,
    }
    await supabase.removeAllChannels()
    return result
  },
}

const run = scenarios[scenarioName]
if (!run) {
  console.error(`unknown scenario ${scenarioName}`)
  process.exit(2)
}
run().then(
  (result) => {
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
    process.exit(0)
  },
  (err) => {
    console.error(`features.mjs ${scenarioName} failed while: ${step}: ${err?.stack ?? err}`)
    process.exit(1)
  },
)
