// supabase-js (@supabase/auth-js 2.119.0) against the sandbox's /auth/v1, the way apps sign in:
// no token is minted by hand, supabase-js hands the session's JWT to Realtime by itself.
//
//   node auth.mjs '<json config>'
//
// Config: url, key (anon key), vsn ("2.0.0" or "1.0.0"), prefix (private topics are
// `<prefix>:<user id>`, readable by their own user through an `auth.uid()` policy the caller
// created), alice and bob (fresh emails), password.
//
// 1. Alice signs up (one client), then signs in with her password (a second client, as on a
//    returning visit) and joins her private channel `<prefix>:<alice's id>`.
// 2. Bob signs up and tries to join Alice's channel: the policy refuses him.
// 3. The script prints `SUBSCRIBED {"topic": ...}` and waits for one broadcast on Alice's channel
//    (the caller sends it with `realtime.send`), then prints `RESULT {...}` and exits 0.
// Exits 1 if it does not finish within its deadline.

import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'

const DEADLINE_MS = 15_000
const SETTLE_MS = 300

const config = JSON.parse(process.argv[2] ?? '{}')
let step = 'start'
const timer = setTimeout(() => {
  console.error(`auth.mjs: no result within ${DEADLINE_MS} ms while: ${step}`)
  process.exit(1)
}, DEADLINE_MS)

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A `ws` transport that keeps the text frames this client sends, to see the join's token. */
function tapped(sent) {
  return class extends WebSocket {
    send(data, ...rest) {
      if (typeof data === 'string') sent.push(JSON.parse(data))
      return super.send(data, ...rest)
    }
  }
}

function makeClient(sent = []) {
  const realtime = { transport: tapped(sent) }
  if (config.vsn === '1.0.0') realtime.vsn = '1.0.0'
  return createClient(config.url, config.key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime,
  })
}

/** Subscribe and resolve with the first status (and its error text, if any). */
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

/** The `access_token` a phx_join carried, in either envelope. */
function joinToken(sent, topic) {
  const join = sent
    .map((m) => (Array.isArray(m) ? { topic: m[2], event: m[3], payload: m[4] } : m))
    .find((m) => m.event === 'phx_join' && m.topic === `realtime:${topic}`)
  return join?.payload?.access_token ?? null
}

const summary = ({ data, error }) => ({
  error: error ? { name: error.name, status: error.status, code: error.code } : null,
  user_id: data?.user?.id ?? null,
  has_session: Boolean(data?.session?.access_token),
})

// 1. Alice: sign up, then sign in again from a fresh client, and join her private channel.
step = 'alice signs up'
const signupClient = makeClient()
const signedUp = await signupClient.auth.signUp({ email: config.alice, password: config.password })
const aliceSent = []
const alice = makeClient(aliceSent)
step = 'alice signs in'
const signedIn = await alice.auth.signInWithPassword({
  email: config.alice,
  password: config.password,
})
const aliceId = signedIn.data.user?.id
const topic = `${config.prefix}:${aliceId}`
const received = []
const channel = alice
  .channel(topic, { config: { private: true } })
  .on('broadcast', { event: '*' }, (msg) => received.push(msg))
const aliceSub = subscribe(channel)
step = 'alice joins her private channel'
await aliceSub.first
await sleep(SETTLE_MS) // the channel must stay joined after realtime-js's post-join auth step
const { data: sessionData } = await alice.auth.getSession()

// 2. Bob signs up (his session comes with the signup) and tries Alice's channel.
step = 'bob signs up'
const bobSent = []
const bob = makeClient(bobSent)
const bobUp = await bob.auth.signUp({ email: config.bob, password: config.password })
const bobChannel = bob.channel(topic, { config: { private: true } })
const bobSub = subscribe(bobChannel)
step = 'bob is refused'
await bobSub.first

// 3. The caller sends one broadcast to Alice's channel.
process.stdout.write(`SUBSCRIBED ${JSON.stringify({ topic })}\n`)
step = 'alice waits for the broadcast'
while (received.length < 1 && aliceSub.statuses.length === 1) await sleep(20)
await sleep(SETTLE_MS)

const result = {
  vsn: alice.realtime.vsn,
  signup: summary(signedUp),
  signin: summary(signedIn),
  bob_signup: summary(bobUp),
  topic,
  alice: {
    statuses: [...aliceSub.statuses],
    errors: [...aliceSub.errors],
    received,
    join_token_is_session_token:
      joinToken(aliceSent, topic) === sessionData.session?.access_token,
    access_token: sessionData.session?.access_token ?? null,
  },
  bob: {
    statuses: [...bobSub.statuses],
    errors: [...bobSub.errors],
    join_token_is_session_token:
      joinToken(bobSent, topic) === bobUp.data.session?.access_token,
  },
}
await alice.removeAllChannels()
await bob.removeAllChannels()
clearTimeout(timer)
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
process.exit(0)
