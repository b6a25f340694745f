// supabase-js (@supabase/postgrest-js 2.119.0) against the sandbox's /rest/v1, unchanged.
//
//   node postgrest.mjs '<json config>'
//
// Config: url, key (anon key), token (a user's JWT), other (another user's id), table (with an
// `owner uuid default auth.uid()` column and owner-only RLS), fn (`fn(a int, b int) returns int`),
// itinerary (an itinerary_id present in group.live_slots).
//
// Runs the calls in order and prints one line `RESULT {...}` with what each call returned
// ({data, error, status, count}), then exits 0. Exits 1 if it does not finish within its deadline.

import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'

const DEADLINE_MS = 15_000

const config = JSON.parse(process.argv[2] ?? '{}')
const timer = setTimeout(() => {
  console.error(`postgrest.mjs: no result within ${DEADLINE_MS} ms`)
  process.exit(1)
}, DEADLINE_MS)

const options = { realtime: { transport: WebSocket }, auth: { persistSession: false } }
const user = createClient(config.url, config.key, {
  ...options,
  global: { headers: { Authorization: `Bearer ${config.token}` } },
})
const anon = createClient(config.url, config.key, options)

/** Keep what a PostgREST call resolved to, in a JSON-friendly form. */
const keep = ({ data, error, status, count }) => ({ data, error, status, count })

const table = config.table
const result = {}

result.insert = keep(
  await user
    .from(table)
    .insert([
      { slug: 'js-a', title: 'first', n: 1 },
      { slug: 'js-b', title: 'second', n: 2 },
    ])
    .select(),
)
result.update = keep(
  await user.from(table).update({ n: 10, done: true }).eq('slug', 'js-a').select('slug,n,done'),
)
result.selectIn = keep(
  await user
    .from(table)
    .select('slug,n', { count: 'exact' })
    .in('slug', ['js-a', 'js-b', 'js-missing'])
    .order('slug', { ascending: false }),
)
result.single = keep(await user.from(table).select('title').eq('slug', 'js-b').single())
result.delete = keep(await user.from(table).delete().eq('slug', 'js-b').select('slug'))
result.afterDelete = keep(await user.from(table).select('slug').order('slug'))
result.upsert = keep(
  await user
    .from(table)
    .upsert({ slug: 'js-a', title: 'merged', n: 11 }, { onConflict: 'slug' })
    .select('slug,title,n'),
)
result.rpc = keep(await user.rpc(config.fn, { a: 2, b: 3 }))
result.rpcGet = keep(await user.rpc(config.fn, { a: 4 }, { get: true }))
result.liveSlots = keep(
  await anon.schema('group').from('live_slots').select().eq('itinerary_id', config.itinerary),
)
result.refused = keep(
  await user.from(table).insert({ slug: 'js-other', title: 'not mine', owner: config.other }),
)
result.anonRefused = keep(await anon.from(table).insert({ slug: 'js-anon', title: 'anon' }))
result.anonSees = keep(await anon.from(table).select('slug'))
result.unknownTable = keep(await user.from('no_such_table_js').select())
result.badSchema = keep(await user.schema('auth').from('users').select())

clearTimeout(timer)
console.log('RESULT ' + JSON.stringify(result))
process.exit(0)
