// Layer 5 (seed 001): the seed's client snippets, adapted only in URL and keys (and, where a
// snippet reads the browser, `window.location.pathname` comes from the config).
//
//   node seed_layer5.mjs notifications '{url, key, token, userId, otherToken, otherUserId}'
//     "Live Notifications" + "Testing Realtime": the test channel's subscribe callback inserts a
//     notification with supabase.from('notifications').insert(...) (PostgREST), and it comes
//     back on both channels; another user, listening to every notification, never sees it.
//   node seed_layer5.mjs presence '{url, key, users: [{id, token, location}, ...2]}'
//     "User Presence Tracking" in two browsers: sync, join and leave as the first one sees them.
//   node seed_layer5.mjs board '{url, key, token, workspaceId, productionId, expect}'
//     "Subscribe to Production Updates", "Real-time Task Board" and "Live Budget Updates";
//     prints STEP write, the test writes rows (its own production and another one), and the
//     flow waits for `expect` = {productions, tasks, budgets, transactions} events.
//   node seed_layer5.mjs cursors '{url, key, documentId, users: [{id, token}, ...2]}'
//     "Collaborative Editing (Live Cursors)": the second user moves, the first sees it.

import {
  change,
  config,
  signedIn,
  finish,
  flowName,
  metas,
  sleep,
  step,
  subscribed,
  until,
} from './seed_common.mjs'

const SETTLE_MS = 600

async function notifications() {
  const supabase = await signedIn(config.token)
  const currentUser = { id: config.userId }
  const currentUserId = currentUser.id
  const shown = []
  const showNotification = (row) => shown.push(row)

  // 4. Live Notifications
  const notificationChannel = supabase
    .channel('notifications')
    .on(
      'postgres_changes',
      {
        event: 'INSERT',
        schema: 'public',
        table: 'notifications',
        filter: `user_id=eq.${currentUserId}`,
      },
      (payload) => {
        // Show toast notification
        showNotification(payload.new)
      },
    )
  const notificationStatus = await subscribed(notificationChannel)

  // Someone else, signed in as another user, listening to every notification
  const other = await signedIn(config.otherToken)
  const otherSeen = []
  const otherStatus = await subscribed(
    other
      .channel('test')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'notifications' }, (p) =>
        otherSeen.push(change(p)),
      ),
  )

  // Testing Realtime
  const received = []
  let insertResult = null
  const statuses = []
  await new Promise((resolve) => {
    supabase
      .channel('test')
      .on(
        'postgres_changes',
        {
          event: '*',
          schema: 'public',
          table: 'notifications',
        },
        (payload) => {
          received.push(change(payload))
        },
      )
      .subscribe(async (status) => {
        statuses.push(status)
        if (status === 'SUBSCRIBED') {
          // Insert test notification
          insertResult = await supabase.from('notifications').insert({
            user_id: currentUser.id,
            type: 'test',
            title: 'Test',
            message: 'Testing realtime',
          })
          resolve()
        }
      })
  })
  await until('the INSERT on both channels', () => received.length > 0 && shown.length > 0)
  // RLS: inserting a notification for somebody else is refused
  const refused = await supabase.from('notifications').insert({
    user_id: config.otherUserId,
    type: 'test',
    title: 'Not yours',
    message: 'RLS must refuse this',
  })
  await sleep(SETTLE_MS)
  finish({
    notificationStatus,
    otherStatus,
    statuses,
    insert: { status: insertResult.status, error: insertResult.error },
    refused: { status: refused.status, error: refused.error },
    shown,
    received,
    otherSeen,
  })
}

/** One browser running the seed's presence snippet as `user`; returns what it saw. */
async function presenceBrowser(user) {
  const supabase = await signedIn(user.token)
  const currentUser = { id: user.id }
  const window = { location: { pathname: user.location } }
  const seen = { syncs: [], joins: [], leaves: [], statuses: [], tracked: null }

  // 3. User Presence Tracking
  const presenceChannel = supabase
    .channel('user-presence')
    .on('presence', { event: 'sync' }, () => {
      const state = presenceChannel.presenceState()
      seen.syncs.push(Object.values(state).flatMap(metas))
    })
    .on('presence', { event: 'join' }, ({ key, newPresences }) => {
      seen.joins.push({ key, newPresences: metas(newPresences) })
    })
    .on('presence', { event: 'leave' }, ({ key, leftPresences }) => {
      seen.leaves.push({ key, leftPresences: metas(leftPresences) })
    })
    .subscribe(async (status) => {
      seen.statuses.push(status)
      if (status === 'SUBSCRIBED') {
        seen.tracked = await presenceChannel.track({
          user_id: currentUser.id,
          online_at: new Date().toISOString(),
          location: window.location.pathname,
        })
      }
    })
  return { supabase, presenceChannel, seen }
}

async function presence() {
  const [first, second] = config.users
  const a = await presenceBrowser(first)
  await until('the first browser to track', () => a.seen.tracked)
  await until('the first browser to see itself', () =>
    a.seen.syncs.some((s) => s.some((m) => m.user_id === first.id)),
  )
  const b = await presenceBrowser(second)
  await until('the second browser to track', () => b.seen.tracked)
  await until('the first browser to see the second join', () =>
    a.seen.joins.some((j) => j.newPresences.some((m) => m.user_id === second.id)),
  )
  await until('the second browser to see both', () =>
    b.seen.syncs.some((s) => s.length === 2),
  )
  // Unsubscribe when unmounting: the second browser closes the page
  const removed = await b.supabase.removeChannel(b.presenceChannel)
  await until('the first browser to see the second leave', () =>
    a.seen.leaves.some((l) => l.leftPresences.some((m) => m.user_id === second.id)),
  )
  await sleep(SETTLE_MS)
  const finalState = Object.values(a.presenceChannel.presenceState()).flatMap(metas)
  finish({ first: a.seen, second: b.seen, removed, finalState })
}

async function board() {
  const supabase = await signedIn(config.token)
  const { workspaceId, productionId, expect } = config
  const productions = []
  const tasks = []
  const budgets = []
  const transactions = []
  const kanban = new Map()
  const addTaskToBoard = (task) => kanban.set(task.id, task)
  const updateTaskOnBoard = (task) => kanban.set(task.id, task)
  const removeTaskFromBoard = (id) => kanban.delete(id)
  const updateBudgetDisplay = (row) => budgets.push(row)
  const checkBudgetAlerts = () => {}
  const addTransactionToList = (row) => transactions.push(row)
  const updateBudgetTotals = () => {}

  // 1. Subscribe to Production Updates
  const productionChannel = supabase
    .channel('production-changes')
    .on(
      'postgres_changes',
      {
        event: '*',
        schema: 'public',
        table: 'productions',
        filter: `workspace_id=eq.${workspaceId}`,
      },
      (payload) => {
        productions.push(change(payload))
      },
    )

  // 2. Real-time Task Board
  const taskChannel = supabase
    .channel('task-updates')
    .on(
      'postgres_changes',
      {
        event: '*',
        schema: 'public',
        table: 'project_tasks',
        filter: `production_id=eq.${productionId}`,
      },
      (payload) => {
        tasks.push(change(payload))
        // Update Kanban board in real-time
        if (payload.eventType === 'INSERT') {
          addTaskToBoard(payload.new)
        } else if (payload.eventType === 'UPDATE') {
          updateTaskOnBoard(payload.new)
        } else if (payload.eventType === 'DELETE') {
          removeTaskFromBoard(payload.old.id)
        }
      },
    )

  // 6. Live Budget Updates
  const budgetChannel = supabase
    .channel('budget-updates')
    .on(
      'postgres_changes',
      {
        event: 'UPDATE',
        schema: 'public',
        table: 'budgets',
        filter: `production_id=eq.${productionId}`,
      },
      (payload) => {
        updateBudgetDisplay(payload.new)
        checkBudgetAlerts(payload.new)
      },
    )
    .on(
      'postgres_changes',
      {
        event: 'INSERT',
        schema: 'public',
        table: 'financial_transactions',
        filter: `production_id=eq.${productionId}`,
      },
      (payload) => {
        addTransactionToList(payload.new)
        updateBudgetTotals()
      },
    )

  const statuses = await Promise.all(
    [productionChannel, taskChannel, budgetChannel].map((ch) => subscribed(ch)),
  )
  await step('write')
  await until(
    () => {
      const got = { productions, tasks, budgets, transactions }
      return `events ${JSON.stringify(expect)}, got ${JSON.stringify(got)}`
    },
    () =>
      productions.length >= expect.productions &&
      tasks.length >= expect.tasks &&
      budgets.length >= expect.budgets &&
      transactions.length >= expect.transactions,
  )
  await sleep(SETTLE_MS)
  finish({
    statuses,
    productions,
    tasks,
    budgets,
    transactions,
    kanban: [...kanban.values()].sort((x, y) => x.position - y.position),
  })
}

/** One browser running the seed's live-cursor snippet on a document, as `user`. */
async function cursorBrowser(user, documentId) {
  const supabase = await signedIn(user.token)
  const currentUser = { id: user.id }
  const cursorsSeen = []
  const updateCursor = (userId, position) => cursorsSeen.push({ userId, position })

  // 5. Collaborative Editing (Live Cursors)
  const collaborationChannel = supabase
    .channel(`document:${documentId}`)
    .on('broadcast', { event: 'cursor-move' }, ({ payload }) => {
      updateCursor(payload.userId, payload.position)
    })

  // Send cursor position
  function onCursorMove(position) {
    return collaborationChannel.send({
      type: 'broadcast',
      event: 'cursor-move',
      payload: { userId: currentUser.id, position },
    })
  }
  return { collaborationChannel, onCursorMove, cursorsSeen }
}

async function cursors() {
  const browsers = await Promise.all(config.users.map((u) => cursorBrowser(u, config.documentId)))
  const statuses = await Promise.all(browsers.map((b) => subscribed(b.collaborationChannel)))
  const [a, b] = browsers
  const path = [
    { x: 10, y: 20 },
    { x: 42, y: 64 },
    { x: 300, y: 128 },
  ]
  const sent = []
  for (const position of path) sent.push(await b.onCursorMove(position))
  await until('the first browser to see three moves', () => a.cursorsSeen.length >= path.length)
  await sleep(SETTLE_MS)
  finish({ statuses, sent, first: a.cursorsSeen, second: b.cursorsSeen })
}

const flows = { notifications, presence, board, cursors }
if (!(flowName in flows)) {
  process.stderr.write(`unknown flow ${flowName}; choose from ${Object.keys(flows)}\n`)
  process.exit(2)
}
await flows[flowName]()
