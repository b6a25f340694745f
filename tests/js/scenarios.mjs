// Conformance scenarios: the official supabase-js client (and a few raw `ws` sockets) against
// the sandbox.
//
//   node scenarios.mjs <scenario> '<json config>'
//
// Every scenario prints exactly one line `RESULT {...}` on stdout with what the client observed,
// then exits 0. Scenarios that need the caller to act (write SQL, ...) first print a line
// `SUBSCRIBED` and then wait. If a scenario does not finish within its deadline it prints a
// message on stderr and exits 1.
//
// Common config keys: url (the sandbox's http URL), key (the anon key), vsn ("2.0.0" or
// "1.0.0"), topic (a sub-topic, without the `realtime:` prefix).

import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'

const DEADLINE_MS = 10_000
const SETTLE_MS = 300

const [scenarioName, rawConfig = '{}'] = process.argv.slice(2)
const config = JSON.parse(rawConfig)

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A promise with its resolve function exposed, for callbacks to settle. */
function deferred() {
  let resolve
  const promise = new Promise((r) => (resolve = r))
  return { promise, resolve }
}

/** Wait until `predicate()` holds; `wake()` is called by callbacks whenever state changes. */
function makeWaiter() {
  const waiting = []
  return {
    wake() {
      for (const w of [...waiting]) {
        if (w.predicate()) {
          waiting.splice(waiting.indexOf(w), 1)
          w.resolve()
        }
      }
    },
    until(predicate) {
      if (predicate()) return Promise.resolve()
      const d = deferred()
      waiting.push({ predicate, resolve: d.resolve })
      return d.promise
    },
  }
}

/** What a step is waiting for, reported when the deadline hits. */
let currentStep = 'start'
function step(name) {
  currentStep = name
}

function finish(result) {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
  process.exit(0)
}

/** Drop the server-generated presence_ref (checking it is a non-empty string) from presences. */
function stripRefs(presences) {
  return (presences ?? []).map(({ presence_ref, ...rest }) => {
    if (typeof presence_ref !== 'string' || presence_ref === '') {
      return { ...rest, presence_ref_invalid: presence_ref ?? null }
    }
    return rest
  })
}

function stripState(state) {
  return Object.fromEntries(Object.entries(state).map(([key, list]) => [key, stripRefs(list)]))
}

function errorText(err) {
  return err ? String(err.message ?? err) : null
}

// ---------------------------------------------------------------------------------------------
// A `ws` transport that records every frame, so scenarios can report what crossed the wire
// ---------------------------------------------------------------------------------------------

/** Decode the realtime binary broadcast frames (kind 3 client->server, kind 4 server->client). */
function describeBinary(data) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data)
  const out = { binary: true, kind: buf[0], hex: buf.toString('hex') }
  const text = (start, len) => buf.subarray(start, start + len).toString('utf8')
  if (buf[0] === 4 && buf.length >= 5) {
    const [topicLen, eventLen, metaLen, encoding] = [buf[1], buf[2], buf[3], buf[4]]
    let at = 5
    out.topic = text(at, topicLen)
    out.event = text((at += topicLen), eventLen)
    out.meta = text((at += eventLen), metaLen)
    out.encoding = encoding
    out.payload = buf.subarray(at + metaLen).toString('utf8')
  } else if (buf[0] === 3 && buf.length >= 7) {
    const [joinRefLen, refLen, topicLen, eventLen, metaLen, encoding] = buf.subarray(1, 7)
    let at = 7
    out.join_ref = text(at, joinRefLen)
    out.ref = text((at += joinRefLen), refLen)
    out.topic = text((at += refLen), topicLen)
    out.event = text((at += topicLen), eventLen)
    out.meta = text((at += eventLen), metaLen)
    out.encoding = encoding
    out.payload = buf.subarray(at + metaLen).toString('utf8')
  }
  return out
}

function describeFrame(data, isBinary) {
  if (isBinary) return describeBinary(data)
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8')
  try {
    return { text: JSON.parse(text) }
  } catch {
    return { raw: text } // not JSON (only garbage we send ourselves)
  }
}

/** Make a WebSocket class for supabase-js that appends {dir, ...frame} to `log`. */
function tappedTransport(log) {
  return class TappedWebSocket extends WebSocket {
    constructor(address, protocols, options) {
      super(address, protocols, options)
      log.push({ dir: 'connect' })
      this.on('open', () => log.push({ dir: 'open' }))
      this.on('message', (data, isBinary) => log.push({ dir: 'in', ...describeFrame(data, isBinary) }))
    }

    send(data, ...rest) {
      log.push({ dir: 'out', ...describeFrame(data, typeof data !== 'string') })
      return super.send(data, ...rest)
    }
  }
}

/**
 * createClient with the `ws` transport (Node 20 has no global WebSocket) and the asked vsn.
 * `extra` is merged into the createClient options.
 */
function makeClient(wire, key = config.key, extra = {}) {
  const realtime = { transport: tappedTransport(wire) }
  if (config.vsn === '1.0.0') realtime.vsn = '1.0.0'
  return createClient(config.url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime,
    ...extra,
  })
}

/** The text frames of a wire log as {event, payload} (vsn 1 objects and vsn 2 arrays alike). */
function textMessages(wire, dir) {
  return wire
    .filter((f) => f.dir === dir && f.text)
    .map((f) => (Array.isArray(f.text) ? { event: f.text[3], payload: f.text[4] } : f.text))
}

/**
 * Subscribe `channel`, recording every status (and error message) the callback reports.
 * `firstStatus` resolves with the first status reported.
 */
function subscribe(channel, waiter) {
  const statuses = []
  const errors = []
  const first = deferred()
  channel.subscribe((status, err) => {
    statuses.push(status)
    if (err) errors.push(errorText(err))
    first.resolve(status)
    waiter?.wake()
  })
  return { statuses, errors, firstStatus: first.promise }
}

async function expectSubscribed(sub, what) {
  step(`${what}: waiting for SUBSCRIBED`)
  const status = await sub.firstStatus
  if (status !== 'SUBSCRIBED') {
    throw new Error(`${what}: first status ${status} (${sub.errors.join('; ')})`)
  }
}

function wsUrl(apikey, vsn = config.vsn) {
  const base = config.url.replace(/^http/, 'ws') + '/realtime/v1/websocket'
  const params = new URLSearchParams()
  if (apikey !== null && apikey !== undefined) params.set('apikey', apikey)
  params.set('vsn', vsn)
  return `${base}?${params}`
}

/** A raw `ws` peer: frames in arrive in `frames`, `next(pred)` waits for a matching one. */
async function openRaw(url) {
  const ws = new WebSocket(url)
  const frames = []
  const waiter = makeWaiter()
  ws.on('message', (data, isBinary) => {
    frames.push(describeFrame(data, isBinary))
    waiter.wake()
  })
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  let seen = 0
  return {
    ws,
    frames,
    /** Resolve with the first frame after the previously consumed one that satisfies `pred`. */
    async next(pred = () => true) {
      let found
      await waiter.until(() => {
        while (seen < frames.length) {
          const f = frames[seen++]
          if (pred(f)) {
            found = f
            return true
          }
        }
        return false
      })
      return found
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

const scenarios = {
  /** Subscribe to a plain channel; report the statuses before and after removing it. */
  async subscribe() {
    const wire = []
    const supabase = makeClient(wire)
    const channel = supabase.channel(config.topic)
    const sub = subscribe(channel)
    await expectSubscribed(sub, 'subscribe')
    await sleep(SETTLE_MS) // nothing else (errors, closes) should follow a good join
    const whileJoined = [...sub.statuses]
    const state = channel.state
    step('removeAllChannels')
    const removed = await supabase.removeAllChannels()
    return {
      vsn: supabase.realtime.vsn,
      topic: channel.topic,
      statuses: whileJoined,
      state,
      errors: sub.errors,
      removed,
      statuses_after_remove: sub.statuses,
      wire,
    }
  },

  /** A (self + ack) and B share a channel; each sends one broadcast. */
  async broadcast() {
    const wireA = []
    const wireB = []
    const a = makeClient(wireA)
    const b = makeClient(wireB)
    const waiter = makeWaiter()
    const gotA = []
    const gotB = []
    const chA = a
      .channel(config.topic, { config: { broadcast: { self: true, ack: true } } })
      .on('broadcast', { event: '*' }, (msg) => {
        gotA.push(msg)
        waiter.wake()
      })
    const chB = b.channel(config.topic).on('broadcast', { event: '*' }, (msg) => {
      gotB.push(msg)
      waiter.wake()
    })
    const subA = subscribe(chA)
    const subB = subscribe(chB)
    await expectSubscribed(subA, 'A')
    await expectSubscribed(subB, 'B')

    step('A sends hello')
    const sendA = await chA.send({ type: 'broadcast', event: 'hello', payload: { a: 1 } })
    step('waiting for hello at A (self) and B')
    await waiter.until(() => gotA.length >= 1 && gotB.length >= 1)

    // B has neither self nor ack: send() resolves 'ok' at once, only A receives it.
    step('B sends reply')
    const replyPayload = { b: [1, 'x', null], nested: { ok: true, n: 2.5 }, text: 'héllo ✓' }
    const sendB = await chB.send({ type: 'broadcast', event: 'reply', payload: replyPayload })
    step('waiting for reply at A')
    await waiter.until(() => gotA.length >= 2)
    await sleep(SETTLE_MS) // catch duplicates or a self-echo to B

    const result = {
      vsn: a.realtime.vsn,
      statuses: { A: [...subA.statuses], B: [...subB.statuses] },
      send: { A: sendA, B: sendB },
      received: { A: gotA, B: gotB },
      wire: { A: wireA, B: wireB },
    }
    await Promise.all([a.removeAllChannels(), b.removeAllChannels()])
    return result
  },

  /** A (key alice) tracks then untracks; B (key bob) watches the presence events. */
  async presence() {
    const a = makeClient([])
    const b = makeClient([])
    const waiter = makeWaiter()
    const eventsB = []
    const eventsA = []
    const record = (events, channel) => (e) => {
      if (e.event === 'sync') {
        events.push({ event: 'sync', state: stripState(channel.presenceState()) })
      } else if (e.event === 'join') {
        events.push({
          event: 'join',
          key: e.key,
          newPresences: stripRefs(e.newPresences),
          currentPresences: stripRefs(e.currentPresences),
        })
      } else {
        events.push({
          event: 'leave',
          key: e.key,
          leftPresences: stripRefs(e.leftPresences),
          currentPresences: stripRefs(e.currentPresences),
        })
      }
      waiter.wake()
    }
    const chA = a.channel(config.topic, { config: { presence: { key: 'alice' } } })
    chA.on('presence', { event: '*' }, record(eventsA, chA))
    const chB = b.channel(config.topic, { config: { presence: { key: 'bob' } } })
    chB.on('presence', { event: '*' }, record(eventsB, chB))

    const subB = subscribe(chB)
    await expectSubscribed(subB, 'B')
    step('B: waiting for the initial presence sync')
    await waiter.until(() => eventsB.some((e) => e.event === 'sync'))
    const subA = subscribe(chA)
    await expectSubscribed(subA, 'A')
    step('A: waiting for the initial presence sync')
    await waiter.until(() => eventsA.some((e) => e.event === 'sync'))

    step('A tracks')
    const track = await chA.track({ user: 'alice' })
    step('B: waiting for the join of alice')
    await waiter.until(() => eventsB.some((e) => e.event === 'join'))
    step('A: waiting for its own join (the tracker gets the diff too)')
    await waiter.until(() => eventsA.some((e) => e.event === 'join'))
    await sleep(50) // the sync that follows a join is synchronous; this only absorbs jitter
    const stateAfterJoin = { A: stripState(chA.presenceState()), B: stripState(chB.presenceState()) }

    step('A untracks')
    const untrack = await chA.untrack()
    step('B: waiting for the leave of alice')
    await waiter.until(() => eventsB.some((e) => e.event === 'leave'))
    await sleep(SETTLE_MS)
    const stateAfterLeave = { A: stripState(chA.presenceState()), B: stripState(chB.presenceState()) }

    // Round two: A tracks again, then removes its channel; B must see alice leave again.
    step('A tracks again')
    const retrack = await chA.track({ user: 'alice', round: 2 })
    step('B: waiting for the second join of alice')
    await waiter.until(() => eventsB.filter((e) => e.event === 'join').length >= 2)
    // the diff reaches A and B in no set order (a PubSub fan-out): wait for A's own copy too
    step('A: waiting for its own second join')
    await waiter.until(() => eventsA.filter((e) => e.event === 'join').length >= 2)
    step('A removes its channel')
    const removed = await a.removeChannel(chA)
    step('B: waiting for the second leave of alice')
    await waiter.until(() => eventsB.filter((e) => e.event === 'leave').length >= 2)
    await sleep(SETTLE_MS)

    const result = {
      vsn: a.realtime.vsn,
      statuses: { A: [...subA.statuses], B: [...subB.statuses] },
      track,
      untrack,
      events: { A: eventsA, B: eventsB },
      state_after_join: stateAfterJoin,
      state_after_leave: stateAfterLeave,
      retrack,
      removed,
      final_state_B: stripState(chB.presenceState()),
    }
    await Promise.all([a.removeAllChannels(), b.removeAllChannels()])
    return result
  },

  /**
   * Subscribe with the postgres_changes bindings of `config.bindings`, print SUBSCRIBED once the
   * server confirmed the subscription, then wait for `config.expect` callbacks in total.
   */
  async postgres() {
    const wire = []
    const supabase = makeClient(wire)
    const waiter = makeWaiter()
    const received = []
    const system = []
    const channel = supabase.channel(config.topic)
    config.bindings.forEach((binding, index) => {
      channel.on('postgres_changes', binding, (p) => {
        received.push({
          binding: index,
          eventType: p.eventType,
          schema: p.schema,
          table: p.table,
          commit_timestamp: p.commit_timestamp,
          new: p.new,
          old: p.old,
          errors: p.errors,
        })
        waiter.wake()
      })
    })
    channel.on('system', {}, (payload) => {
      system.push(payload)
      waiter.wake()
    })
    const sub = subscribe(channel, waiter)
    await expectSubscribed(sub, 'postgres')
    // The join reply comes first; the "Subscribed to PostgreSQL" system message says the
    // change feed is live. Only then may the caller write rows.
    step('waiting for the postgres_changes system message')
    await waiter.until(() => system.some((s) => s.extension === 'postgres_changes'))
    process.stdout.write('SUBSCRIBED\n')

    step(`waiting for ${config.expect} postgres_changes callbacks`)
    await waiter.until(() => received.length >= config.expect)
    await sleep(SETTLE_MS) // anything that should not have matched would show up by now

    // The raw frames, so the caller can check the JSON types before the client converts them.
    const incoming = textMessages(wire, 'in')
    const raw = incoming.filter((m) => m.event === 'postgres_changes').map((m) => m.payload)
    const joinReply = incoming.find(
      (m) => m.event === 'phx_reply' && m.payload?.response?.postgres_changes
    )

    const result = {
      vsn: supabase.realtime.vsn,
      statuses: [...sub.statuses],
      errors: sub.errors,
      system,
      join_response: joinReply?.payload ?? null,
      received,
      raw,
    }
    await supabase.removeAllChannels()
    return result
  },

  /**
   * Several clients, each with its own token (`config.clients`: [{name, jwt}]; no jwt: the anon
   * key), subscribe with the same `config.bindings`. SUBSCRIBED is printed once each of them was
   * told "Subscribed to PostgreSQL"; then the scenario waits until every client got its
   * `config.expect[name]` callbacks, and reports what each one received.
   */
  async postgres_as() {
    const waiter = makeWaiter()
    const clients = config.clients.map(({ name, jwt }) => {
      const wire = []
      // as in `private`: an accessToken callback returning the JWT keeps it the channel's token
      const extra = jwt ? { accessToken: async () => jwt } : {}
      const supabase = makeClient(wire, config.key, extra)
      return { name, jwt, wire, supabase, received: [], system: [] }
    })
    for (const c of clients) {
      if (c.jwt) await c.supabase.realtime.setAuth(c.jwt)
      const channel = c.supabase.channel(config.topic)
      config.bindings.forEach((binding, index) => {
        channel.on('postgres_changes', binding, (p) => {
          c.received.push({
            binding: index,
            eventType: p.eventType,
            commit_timestamp: p.commit_timestamp,
            new: p.new,
            old: p.old,
            errors: p.errors,
          })
          waiter.wake()
        })
      })
      channel.on('system', {}, (payload) => {
        c.system.push(payload)
        waiter.wake()
      })
      c.sub = subscribe(channel, waiter)
    }
    for (const c of clients) {
      await expectSubscribed(c.sub, c.name)
      step(`${c.name}: waiting for the postgres_changes system message`)
      await waiter.until(() => c.system.some((s) => s.extension === 'postgres_changes'))
    }
    process.stdout.write('SUBSCRIBED\n')
    for (const c of clients) {
      const want = config.expect[c.name] ?? 0
      step(`${c.name}: waiting for ${want} postgres_changes callbacks`)
      await waiter.until(() => c.received.length >= want)
    }
    await sleep(SETTLE_MS) // what nobody should have got would show up by now
    const result = { vsn: clients[0].supabase.realtime.vsn, clients: {} }
    for (const c of clients) {
      result.clients[c.name] = {
        statuses: [...c.sub.statuses],
        errors: c.sub.errors,
        system: c.system,
        received: c.received,
        raw: textMessages(c.wire, 'in')
          .filter((m) => m.event === 'postgres_changes')
          .map((m) => m.payload),
      }
    }
    await Promise.all(clients.map((c) => c.supabase.removeAllChannels()))
    return result
  },

  /**
   * One client joins a channel per case of `config.cases` ([{topic, bindings}]). SUBSCRIBED is
   * printed once every channel got its postgres_changes system message (ok or error); then the
   * scenario waits for `config.expect[topic]` callbacks per topic and reports, per topic, the
   * statuses, system messages, callbacks and raw postgres_changes frames.
   */
  async postgres_cases() {
    const wire = []
    const supabase = makeClient(wire)
    const waiter = makeWaiter()
    const cases = config.cases.map(({ topic, bindings }) => {
      const c = { topic, received: [], system: [] }
      const channel = supabase.channel(topic)
      bindings.forEach((binding, index) => {
        channel.on('postgres_changes', binding, (p) => {
          c.received.push({ binding: index, eventType: p.eventType, new: p.new, old: p.old })
          waiter.wake()
        })
      })
      channel.on('system', {}, (payload) => {
        c.system.push(payload)
        waiter.wake()
      })
      c.sub = subscribe(channel, waiter)
      return c
    })
    for (const c of cases) {
      await expectSubscribed(c.sub, c.topic)
      step(`${c.topic}: waiting for the postgres_changes system message`)
      await waiter.until(() => c.system.some((s) => s.extension === 'postgres_changes'))
    }
    process.stdout.write('SUBSCRIBED\n')
    for (const c of cases) {
      const want = config.expect?.[c.topic] ?? 0
      step(`${c.topic}: waiting for ${want} postgres_changes callbacks`)
      await waiter.until(() => c.received.length >= want)
    }
    await sleep(SETTLE_MS) // a late close or a change that should not come would show up by now
    // {topic, event, payload} of each text frame in, for vsn 1 objects and vsn 2 arrays alike
    const frames = wire
      .filter((f) => f.dir === 'in' && f.text)
      .map((f) => {
        const t = f.text
        return Array.isArray(t) ? { topic: t[2], event: t[3], payload: t[4] } : t
      })
    const result = { vsn: supabase.realtime.vsn, cases: {} }
    for (const c of cases) {
      const mine = frames.filter((m) => m.topic === `realtime:${c.topic}`)
      result.cases[c.topic] = {
        statuses: [...c.sub.statuses],
        system: c.system,
        received: c.received,
        closed: mine.some((m) => m.event === 'phx_close'),
        raw: mine.filter((m) => m.event === 'postgres_changes').map((m) => m.payload),
      }
    }
    await supabase.removeAllChannels()
    return result
  },

  /** Subscribe, then removeChannel: the promise says 'ok' and the callback reports CLOSED. */
  async leave() {
    const wire = []
    const supabase = makeClient(wire)
    const channel = supabase.channel(config.topic)
    const sub = subscribe(channel)
    await expectSubscribed(sub, 'leave')
    step('removeChannel')
    const removed = await supabase.removeChannel(channel)
    await sleep(SETTLE_MS) // a late phx_close must not produce a second CLOSED
    const result = {
      vsn: supabase.realtime.vsn,
      removed,
      statuses: [...sub.statuses],
      state: channel.state,
      channels_left: supabase.getChannels().length,
      wire,
    }
    await supabase.removeAllChannels()
    return result
  },

  /**
   * A client built with a bad key must never get SUBSCRIBED; plain `ws` upgrades with bad keys
   * must be refused with an HTTP status and a JSON error body.
   */
  async bad_key() {
    const wire = []
    const supabase = makeClient(wire, config.bad_key)
    const channel = supabase.channel(config.topic)
    const sub = subscribe(channel)
    // Watch for a fixed window: the client retries (after 1 s, then 2 s) and every attempt
    // must be refused, so SUBSCRIBED must never show up.
    step('watching the client fail')
    await sleep(config.observe_ms ?? 3000)
    const clientResult = {
      statuses: [...sub.statuses],
      errors: [...sub.errors],
      state: channel.state,
      connected: supabase.realtime.isConnected(),
      attempts: wire.filter((f) => f.dir === 'connect').length,
      opened: wire.filter((f) => f.dir === 'open').length,
      frames_in: wire.filter((f) => f.dir === 'in').length,
    }
    await supabase.removeAllChannels()

    const probes = []
    for (const apikey of config.probe_keys) {
      step(`probe with apikey ${JSON.stringify(apikey)}`)
      probes.push(await probeUpgrade(wsUrl(apikey)))
    }
    return { vsn: supabase.realtime.vsn, client: clientResult, probes }
  },

  /**
   * A raw vsn 2.0.0 socket sends garbage, then a heartbeat, then joins; a supabase-js client on
   * the same channel still subscribes and its broadcast reaches the raw socket.
   */
  async malformed() {
    const topic = `realtime:${config.topic}`
    const raw = await openRaw(wsUrl(config.key, '2.0.0'))
    raw.ws.send('xyz')
    raw.ws.send('[1,2,3]')
    raw.ws.send(Buffer.from([9, 1, 2, 3, 4]), { binary: true })
    raw.ws.send('[null,"1","phoenix","heartbeat",{}]')
    step('raw: waiting for the heartbeat reply')
    const heartbeatReply = await raw.next()
    raw.ws.send(JSON.stringify(['2', '2', topic, 'phx_join', { config: {} }]))
    step('raw: waiting for the join reply')
    const joinReply = await raw.next()

    const wire = []
    const supabase = makeClient(wire)
    const channel = supabase.channel(config.topic)
    const sub = subscribe(channel)
    await expectSubscribed(sub, 'supabase-js')
    step('supabase-js sends a broadcast')
    const send = await channel.send({ type: 'broadcast', event: 'after-garbage', payload: { ok: 1 } })
    step('raw: waiting for the broadcast')
    const broadcast = await raw.next()
    await sleep(SETTLE_MS)
    const result = {
      vsn: supabase.realtime.vsn,
      heartbeat_reply: heartbeatReply.text ?? heartbeatReply,
      join_reply: joinReply.text ?? joinReply,
      statuses: [...sub.statuses],
      send,
      raw_broadcast: broadcast,
      raw_frames: raw.frames,
    }
    raw.ws.close()
    await supabase.removeAllChannels()
    return result
  },

  /**
   * A private channel: refused for the anon key, joined after setAuth(<jwt>); then the caller
   * sends a broadcast with `realtime.send(...)` (after our SUBSCRIBED line).
   */
  async private() {
    const channelOpts = { config: { private: true } }

    // 1. Only the anon key: the join is refused by the read policy.
    const anon = makeClient([])
    const refusedChannel = anon.channel(config.topic, channelOpts)
    const refused = subscribe(refusedChannel)
    step('anon: waiting for the join error')
    await refused.firstStatus
    const anonResult = {
      statuses: [...refused.statuses],
      errors: [...refused.errors],
      state: refusedChannel.state,
    }
    await anon.removeAllChannels()

    // 2. The same topic with a user JWT set on the realtime client before subscribing.
    // supabase-js always gives realtime-js an `accessToken` callback (by default: the auth
    // session's token, else the anon key), and realtime-js re-reads it on connect and after the
    // join. With only setAuth(jwt) the callback's anon key could replace the JWT, depending on
    // timing, and the server would then (rightly) close the private channel. So the callback
    // returns the same JWT: supabase-js's documented way to use a JWT minted elsewhere.
    const wire = []
    const user = makeClient(wire, config.key, { accessToken: async () => config.jwt })
    await user.realtime.setAuth(config.jwt)
    const waiter = makeWaiter()
    const got = []
    const system = []
    const channel = user
      .channel(config.topic, channelOpts)
      .on('broadcast', { event: '*' }, (msg) => {
        got.push(msg)
        waiter.wake()
      })
      .on('system', {}, (payload) => {
        system.push(payload)
        waiter.wake()
      })
    const sub = subscribe(channel, waiter)
    await expectSubscribed(sub, 'user')
    await sleep(SETTLE_MS) // the channel must stay joined after the client's post-join auth step
    process.stdout.write('SUBSCRIBED\n')
    step('user: waiting for the broadcast sent by realtime.send()')
    await waiter.until(() => got.length >= 1 || sub.statuses.length > 1)
    await sleep(SETTLE_MS)
    const outgoing = textMessages(wire, 'out')
    const joinPayload = outgoing.find((m) => m.event === 'phx_join')?.payload
    const result = {
      vsn: user.realtime.vsn,
      anon: anonResult,
      user: {
        statuses: [...sub.statuses],
        errors: [...sub.errors],
        system,
        received: got,
        join_access_token_is_jwt: joinPayload?.access_token === config.jwt,
        access_token_pushes: outgoing
          .filter((m) => m.event === 'access_token')
          .map((m) => (m.payload.access_token === config.jwt ? 'jwt' : 'other')),
      },
    }
    await user.removeAllChannels()
    return result
  },
}

/** Open a websocket upgrade with `ws` and report the HTTP refusal (status + JSON body). */
function probeUpgrade(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url)
    ws.on('unexpected-response', (req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (body += chunk))
      res.on('end', () => {
        let parsed = body
        try {
          parsed = JSON.parse(body)
        } catch {
          // keep the raw text
        }
        resolve({ status: res.statusCode, body: parsed })
        req.destroy()
      })
    })
    ws.on('open', () => {
      resolve({ status: 101, body: null })
      ws.close()
    })
    ws.on('error', (err) => resolve({ status: null, error: err.message }))
  })
}

// ---------------------------------------------------------------------------------------------

const run = scenarios[scenarioName]
if (!run) {
  process.stderr.write(`unknown scenario ${JSON.stringify(scenarioName)}; known: ${Object.keys(scenarios).join(', ')}\n`)
  process.exit(2)
}

setTimeout(() => {
  process.stderr.write(`scenario ${scenarioName} timed out after ${DEADLINE_MS} ms while: ${currentStep}\n`)
  process.exit(1)
}, DEADLINE_MS)

run().then(finish, (err) => {
  process.stderr.write(`scenario ${scenarioName} failed while: ${currentStep}: ${err?.stack ?? err}\n`)
  process.exit(1)
})
