// TripSage (seed 002): the seed's "Client Setup (supabase-js v2)" code, in one browser per user.
// Adapted only in URL and keys: TypeScript types dropped, `getBrowserClient()` returns that
// browser's client (whose auth session holds the signed-in user's JWT), and `console.log` is the
// browser's log (recorded, not printed).
//
//   node seed_tripsage.mjs session '{url, key, sessionId, owner, collaborator, stranger}'
//     (owner etc. = {id, token}) The owner and a collaborator set their token and join
//     session:{sessionId}; a stranger's join is refused. STEP server-send: the test sends a
//     chat:message with realtime.send; both members get it. Then the owner sends chat:typing
//     and chat:message with sendChatMessage; the collaborator gets both, the owner neither.
//   node seed_tripsage.mjs user '{url, key, user, otherUserId}'
//     The user joins user:{sub} (allowed) and user:{another sub} (refused); STEP server-send:
//     the test sends to both; the user gets their own. Then setRealtimeAuth(null) clears the
//     token, and a new join of user:{sub} is refused.

import {
  config,
  createClient,
  finish,
  flowName,
  joinReplies,
  sleep,
  step,
  until,
} from './seed_common.mjs'

const SETTLE_MS = 600

/**
 * One browser tab of TripSage: its own supabase client and the seed's functions over it. The
 * tab's auth session (`session`, set by `signIn`/`signOut`) is what `getBrowserClient()`'s
 * client reports as its access token: supabase-js re-reads it after every join, so a tab with no
 * session would send the anon key right after joining, and the private channel would close.
 */
function browser() {
  const wire = []
  const session = { access_token: null }
  const supabase = createClient({ wire, accessToken: async () => session.access_token })
  const logs = []
  const console = { log: (...args) => logs.push(args) }
  const getBrowserClient = () => supabase

  // 1) Ensure Realtime gets the current access token
  function setRealtimeAuth(accessToken) {
    const supabase = getBrowserClient()
    if (accessToken) supabase.realtime.setAuth(accessToken)
    else supabase.realtime.setAuth(null) // clears auth safely
  }

  // 2) Join a private channel
  function joinSessionChannel(sessionId) {
    const supabase = getBrowserClient()
    const channel = supabase.channel(`session:${sessionId}`, { config: { private: true } })

    channel.on('broadcast', { event: 'chat:message' }, (p) => {
      console.log('message', p.payload)
    })

    channel.on('broadcast', { event: 'chat:typing' }, (p) => {
      console.log('typing', p.payload)
    })

    channel.subscribe((status) => {
      console.log('realtime status:', status)
    })

    return channel
  }

  // 3) Broadcast
  async function sendChatMessage(channel, payload) {
    await channel.send({ type: 'broadcast', event: 'chat:message', payload })
  }

  /** The same pattern for the per-user topic (`user:{sub}`, private). */
  function joinUserChannel(userId) {
    const channel = getBrowserClient().channel(`user:${userId}`, { config: { private: true } })
    channel.on('broadcast', { event: '*' }, (p) => console.log('user event', p.event, p.payload))
    channel.subscribe((status) => console.log('realtime status:', status))
    return channel
  }

  function signIn(token) {
    session.access_token = token
    setRealtimeAuth(token)
  }

  function signOut() {
    session.access_token = null
    setRealtimeAuth(null)
  }

  const statuses = () => logs.filter(([what]) => what === 'realtime status:').map(([, s]) => s)
  const got = (kind) => logs.filter(([what]) => what === kind).map(([, payload]) => payload)
  return {
    supabase,
    wire,
    logs,
    statuses,
    got,
    signIn,
    signOut,
    joinSessionChannel,
    sendChatMessage,
    joinUserChannel,
  }
}

async function session() {
  const { sessionId, owner, collaborator, stranger } = config
  const tabs = { owner: browser(), collaborator: browser(), stranger: browser() }
  const channels = {}
  for (const [name, who] of Object.entries({ owner, collaborator, stranger })) {
    tabs[name].signIn(who.token)
    channels[name] = tabs[name].joinSessionChannel(sessionId)
  }
  await until('both members SUBSCRIBED', () =>
    ['owner', 'collaborator'].every((n) => tabs[n].statuses().includes('SUBSCRIBED')),
  )
  await until('the stranger refused', () => tabs.stranger.statuses().includes('CHANNEL_ERROR'))
  const strangerReplies = joinReplies(tabs.stranger.wire, `session:${sessionId}`)

  await step('server-send')
  await until('the server message in both members', () =>
    ['owner', 'collaborator'].every((n) => tabs[n].got('message').length >= 1),
  )

  const typing = { session_id: sessionId, user_id: owner.id, is_typing: true }
  await channels.owner.send({ type: 'broadcast', event: 'chat:typing', payload: typing })
  const message = { id: 'msg-1', session_id: sessionId, user_id: owner.id, content: 'Hello Kyoto' }
  await tabs.owner.sendChatMessage(channels.owner, message)
  await until('the owner message in the collaborator', () =>
    tabs.collaborator.got('message').length >= 2,
  )
  await sleep(SETTLE_MS)
  finish({
    statuses: Object.fromEntries(Object.entries(tabs).map(([n, t]) => [n, t.statuses()])),
    strangerReply: strangerReplies[0] ?? null,
    messages: Object.fromEntries(Object.entries(tabs).map(([n, t]) => [n, t.got('message')])),
    typing: Object.fromEntries(Object.entries(tabs).map(([n, t]) => [n, t.got('typing')])),
  })
}

async function user() {
  const { user: me, otherUserId } = config
  const tab = browser()
  tab.signIn(me.token)
  const own = tab.joinUserChannel(me.id)
  await until('the own topic SUBSCRIBED', () => tab.statuses().includes('SUBSCRIBED'))
  const other = tab.joinUserChannel(otherUserId)
  await until('the other topic refused', () => tab.statuses().includes('CHANNEL_ERROR'))
  const otherReply = joinReplies(tab.wire, `user:${otherUserId}`)[0] ?? null
  await tab.supabase.removeChannel(other)

  await step('server-send')
  await until('the user event', () => tab.got('user event').length >= 1)
  await sleep(SETTLE_MS)
  const events = tab.logs.filter(([what]) => what === 'user event').map(([, e, p]) => [e, p])

  // Sign out: clear the token; the private topic can no longer be joined
  await tab.supabase.removeChannel(own)
  tab.signOut()
  await sleep(100)
  const before = tab.wire.length
  tab.joinUserChannel(me.id)
  await until('the join after sign-out answered', () =>
    joinReplies(tab.wire.slice(before), `user:${me.id}`).length > 0,
  )
  const afterSignOut = joinReplies(tab.wire.slice(before), `user:${me.id}`)[0]
  finish({ statuses: tab.statuses(), otherReply, events, afterSignOut })
}

const flows = { session, user }
if (!(flowName in flows)) {
  process.stderr.write(`unknown flow ${flowName}; choose from ${Object.keys(flows)}\n`)
  process.exit(2)
}
await flows[flowName]()
