// Shared plumbing for the seed client-flow scripts (seed_*.mjs): each runs one seed's own client
// snippet, adapted only in URL and keys, against the sandbox.
//
//   node seed_<system>.mjs <flow> '<json config>'
//
// A flow prints `STEP <name>` when the test should act (write rows, call realtime.send, ...); if
// it then needs to know the test has acted it waits for a line on stdin (`await step(name)`).
// It ends by printing exactly one line `RESULT {...}` and exiting 0. On its deadline it prints
// what it was waiting for on stderr and exits 1.
//
// Config keys every flow gets: url (the sandbox's http URL), key (the anon key).

import { createInterface } from 'node:readline'

import { createClient as createSupabaseClient } from '@supabase/supabase-js'
import WebSocket from 'ws'

export const DEADLINE_MS = 15_000

export const config = JSON.parse(process.argv[3] ?? '{}')
export const flowName = process.argv[2]

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

let waitingFor = 'start'
setTimeout(() => {
  const what = typeof waitingFor === 'function' ? waitingFor() : waitingFor
  process.stderr.write(`deadline: still waiting for ${what}\n`)
  process.exit(1)
}, config.deadline_ms ?? DEADLINE_MS).unref()

/**
 * Wait until `predicate()` holds, polling. `what` (a string, or a function returning one, e.g.
 * the counts so far) is reported if the deadline hits first.
 */
export async function until(what, predicate, everyMs = 10) {
  waitingFor = what
  while (!predicate()) await sleep(everyMs)
}

const stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

/** Tell the test to act (`STEP name`), then wait until it says it has (a line on stdin). */
export async function step(name) {
  waitingFor = `the test to finish step ${name}`
  process.stdout.write(`STEP ${name}\n`)
  const { done } = await stdinLines.next()
  if (done) throw new Error(`stdin closed during step ${name}`)
}

export function finish(result) {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
  process.exit(0)
}

/**
 * `createClient(SUPABASE_URL, SUPABASE_ANON_KEY)` as the seeds write it; Node 20 has no global
 * WebSocket, so realtime gets `ws` as its transport. With `accessToken` (a JWT, or a function
 * returning the current one) the client acts as that signed-in user for REST and Realtime alike:
 * it stands in for the Supabase Auth session a browser would hold (the sandbox has no Auth
 * server). `wire` (an array) records every incoming text frame.
 */
export function createClient({ url = config.url, key = config.key, accessToken, wire } = {}) {
  return createSupabaseClient(url, key, {
    realtime: { transport: wire ? tapped(wire) : WebSocket },
    ...(typeof accessToken === 'function' ? { accessToken } : {}),
    ...(typeof accessToken === 'string' ? { accessToken: async () => accessToken } : {}),
  })
}

/** A `ws` class that appends every incoming text frame, parsed, to `wire`. */
function tapped(wire) {
  return class TappedWebSocket extends WebSocket {
    constructor(...args) {
      super(...args)
      this.on('message', (data, isBinary) => {
        if (!isBinary) wire.push(JSON.parse(data.toString('utf8')))
      })
    }
  }
}

/** The server's replies to joins of `topic` in a wire log (vsn 2 arrays or vsn 1 objects). */
export function joinReplies(wire, topic) {
  return wire
    .map((f) => (Array.isArray(f) ? { topic: f[2], event: f[3], payload: f[4] } : f))
    .filter((f) => f.topic === `realtime:${topic}` && f.event === 'phx_reply')
    .map((f) => f.payload)
}

/**
 * A client signed in as the user whose JWT is `accessToken`, as it is once a browser session has
 * loaded: Realtime holds the token before the first channel joins.
 */
export async function signedIn(accessToken) {
  const supabase = createClient({ accessToken })
  await supabase.realtime.setAuth()
  return supabase
}

/** Subscribe and resolve with the first terminal status (and its error's message, if any). */
export function subscribed(channel, statuses = []) {
  // SUBSCRIBED is the join's reply; a channel with postgres_changes receives changes only once
  // the server has also said "Subscribed to PostgreSQL" (a system message after a database
  // round trip, as on Supabase), so wait for that too before the test writes anything.
  const wantsChanges = (channel.bindings?.postgres_changes ?? []).length > 0
  let changesReady = !wantsChanges
  let result = null
  return new Promise((resolve) => {
    const settle = () => {
      if (result && changesReady) resolve(result)
    }
    if (wantsChanges) {
      channel.on('system', {}, (payload) => {
        if (payload?.extension === 'postgres_changes') {
          changesReady = true
          settle()
        }
      })
    }
    channel.subscribe((status, err) => {
      statuses.push(err ? `${status}: ${err.message}` : status)
      if (status === 'CLOSED' || result) return
      result = { status, error: err ? err.message : null }
      if (status !== 'SUBSCRIBED') changesReady = true // refused: no system message will come
      settle()
    })
  })
}

/** Keep only what a test compares from a postgres_changes payload. */
export function change(payload) {
  return {
    eventType: payload.eventType,
    schema: payload.schema,
    table: payload.table,
    new: payload.new,
    old: payload.old,
    commit_timestamp: payload.commit_timestamp,
    errors: payload.errors,
  }
}

/** Presence entries without the server's presence_ref (which differs on every run). */
export function metas(presences) {
  return (presences ?? []).map(({ presence_ref, ...rest }) => rest)
}
