// Organiser dashboard (seed 004): the seed's RealtimeProvider subscriptions, PresenceIndicator,
// CollaborationCursor and useOptimisticUpdate, in one browser per organiser. Adapted only in URL
// and keys: TypeScript and JSX dropped, React state is a plain variable, React Query's cache a
// Map, `showUpdateNotification` a recorder, `throttle` a minimal one, and mouse events are calls.
//
//   node seed_organiser.mjs dashboard '{url, key, organisers: [{id, name, token}, ...2]}'
//     Both browsers subscribe to clients-changes and trips-changes, track themselves on
//     `organisers` and join `collaboration-cursors`. STEP write: the test edits a client and a
//     trip. Then the second organiser moves the mouse; then closes the page (unsubscribe).
//   node seed_organiser.mjs optimistic '{url, key, organisers, tripId}'
//     Both organisers update the same trip with the seed's mutationFn (PostgREST); each sees
//     both UPDATEs, and last-write-wins on updated_at leaves both on the database's final row.

import {
  config,
  finish,
  flowName,
  metas,
  signedIn,
  sleep,
  step,
  subscribed,
  until,
} from './seed_common.mjs'

const SETTLE_MS = 600

function throttle(fn, ms) {
  let last = 0
  return (...args) => {
    const now = Date.now()
    if (now - last >= ms) {
      last = now
      fn(...args)
    }
  }
}

async function dashboard(organiser) {
  const supabase = await signedIn(organiser.token)
  const user = { id: organiser.id, name: organiser.name }
  const queryCache = new Map()
  const notifications = []
  const events = []
  const showUpdateNotification = (n) => notifications.push({ title: n.title, message: n.message })
  const navigateToClient = () => {}

  // RealtimeProvider: setupGlobalSubscriptions / handleClientChange
  const handleClientChange = (payload) => {
    const event = {
      type: payload.eventType,
      table: 'clients',
      schema: 'public',
      new: payload.new,
      old: payload.old,
      timestamp: new Date(),
    }
    events.push(event)
    switch (event.type) {
      case 'INSERT':
      case 'UPDATE':
        queryCache.set(`client:${event.new?.id}`, event.new)
        break
      case 'DELETE':
        queryCache.delete(`client:${event.old?.id}`)
        break
    }
    if (event.type === 'UPDATE' && event.new) {
      showUpdateNotification({
        title: 'Client Updated',
        message: `${event.new.name} was updated`,
        action: () => navigateToClient(event.new.id),
      })
    }
  }
  // (the seed names handleTripChange without showing it: the same, for trips)
  const handleTripChange = (payload) => {
    const event = {
      type: payload.eventType,
      table: 'trips',
      schema: 'public',
      new: payload.new,
      old: payload.old,
      timestamp: new Date(),
    }
    events.push(event)
    if (event.type === 'DELETE') queryCache.delete(`trip:${event.old?.id}`)
    else queryCache.set(`trip:${event.new?.id}`, event.new)
  }
  const clientSub = supabase
    .channel('clients-changes')
    .on('postgres_changes', { event: '*', schema: 'public', table: 'clients' }, handleClientChange)
  const tripSub = supabase
    .channel('trips-changes')
    .on('postgres_changes', { event: '*', schema: 'public', table: 'trips' }, handleTripChange)

  // PresenceIndicator
  let presence = []
  const setPresence = (p) => {
    presence = p
  }
  const channelId = 'organisers'
  const channel = supabase.channel(channelId)
  channel
    .on('presence', { event: 'sync' }, () => {
      const state = channel.presenceState()
      setPresence(Object.values(state).flat())
    })
    .subscribe(async (status) => {
      if (status === 'SUBSCRIBED') {
        await channel.track({
          user_id: user.id,
          user_name: user.name,
          online_at: new Date().toISOString(),
        })
      }
    })
  const otherUsers = () => presence.filter((p) => p.user_id !== user.id)

  // CollaborationCursor
  let cursors = new Map()
  const setCursors = (fn) => {
    cursors = fn(cursors)
  }
  const received = []
  const cursorChannel = supabase.channel('collaboration-cursors')
  cursorChannel
    .on('broadcast', { event: 'cursor-move' }, (payload) => {
      received.push(payload)
      setCursors((prev) => {
        const next = new Map(prev)
        next.set(payload.userId, payload.position)
        return next
      })
    })
  const sent = []
  const handleMouseMove = throttle((e) => {
    sent.push(
      cursorChannel.send({
        type: 'broadcast',
        event: 'cursor-move',
        payload: {
          userId: user.id,
          position: { x: e.clientX, y: e.clientY },
          userName: user.name,
        },
      }),
    )
  }, 50)

  const statuses = await Promise.all([clientSub, tripSub, cursorChannel].map((c) => subscribed(c)))
  return {
    supabase,
    user,
    statuses,
    events,
    notifications,
    queryCache,
    channel,
    otherUsers,
    received,
    cursors: () => [...cursors.entries()],
    handleMouseMove,
    sent,
  }
}

async function dashboardFlow() {
  const [a, b] = await Promise.all(config.organisers.map(dashboard))
  await until('each organiser to see the other online', () =>
    a.otherUsers().some((p) => p.user_id === b.user.id) &&
    b.otherUsers().some((p) => p.user_id === a.user.id),
  )
  const othersOfA = metas(a.otherUsers())
  await step('write')
  await until(
    () => `both to see the client and trip updates, got ${a.events.length}/${b.events.length}`,
    () => a.events.length >= 2 && b.events.length >= 2,
  )
  b.handleMouseMove({ clientX: 100, clientY: 200 })
  await sleep(60)
  b.handleMouseMove({ clientX: 140, clientY: 220 })
  await sleep(60)
  b.handleMouseMove({ clientX: 180, clientY: 260 })
  b.handleMouseMove({ clientX: 1, clientY: 1 }) // within 50 ms of the last one: throttled
  const sent = await Promise.all(b.sent)
  await until('the first organiser to see three cursor moves', () => a.received.length >= 3)
  // the second organiser closes the page
  await b.channel.unsubscribe()
  await until('the first organiser to see the second leave', () => a.otherUsers().length === 0)
  await sleep(SETTLE_MS)
  finish({
    statuses: [a.statuses, b.statuses],
    othersOfA,
    events: [a.events, b.events].map((evs) =>
      evs.map((e) => ({ type: e.type, table: e.table, new: e.new, old: e.old })),
    ),
    notifications: [a.notifications, b.notifications],
    received: a.received,
    cursorsOfA: a.cursors(),
    sent,
    receivedBySender: b.received.length,
    othersAfterLeave: metas(a.otherUsers()),
  })
}

async function optimistic() {
  const { tripId } = config
  const browsers = await Promise.all(
    config.organisers.map(async (organiser) => {
      const supabase = await signedIn(organiser.token)
      const seen = []
      const ch = supabase
        .channel('trips-changes')
        .on(
          'postgres_changes',
          { event: 'UPDATE', schema: 'public', table: 'trips', filter: `id=eq.${tripId}` },
          (payload) => seen.push(payload.new),
        )
      await subscribed(ch)
      // useOptimisticUpdate('trips', ...).mutationFn
      const mutationFn = async (data) => {
        const { data: updated, error } = await supabase
          .from('trips')
          .update(data)
          .eq('id', data.id)
          .select()
          .single()
        if (error) throw error
        return updated
      }
      return { supabase, seen, mutationFn }
    }),
  )
  const [a, b] = browsers
  const first = await a.mutationFn({ id: tripId, notes: 'Aisle seats, please' })
  const second = await b.mutationFn({ id: tripId, notes: 'Window seats, please', travellers: 3 })
  await until('both UPDATEs in both browsers', () => a.seen.length >= 2 && b.seen.length >= 2)
  // last-write-wins on updated_at (the seeds' conflict strategy)
  const newest = (rows) =>
    rows.reduce((x, y) => (new Date(y.updated_at) > new Date(x.updated_at) ? y : x))
  await sleep(SETTLE_MS)
  finish({ first, second, seen: [a.seen, b.seen], resolved: [newest(a.seen), newest(b.seen)] })
}

const flows = { dashboard: dashboardFlow, optimistic }
if (!(flowName in flows)) {
  process.stderr.write(`unknown flow ${flowName}; choose from ${Object.keys(flows)}\n`)
  process.exit(2)
}
await flows[flowName]()
