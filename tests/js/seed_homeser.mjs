// HomeSer (seed 003): the frontend's subscriptions, as the seed's "Event Categories" define them
// (its React hooks `useRealTimeBookings(userId)` etc. are not in the seed; these are their
// subscriptions, with the seed's channel names and filters). The tables live in the `homeser`
// schema (see sandbox/sql/040_homeser.sql). Each user is a browser signed in with their JWT.
//
//   node seed_homeser.mjs marketplace '{url, key, customer, provider, snooper}'
//     (customer etc. = {id, token}) The customer subscribes to bookings-changes-{id} and
//     notifications-changes-{id}, the provider to provider-bookings-changes-{id}, everyone's
//     browser to services-changes; a snooper (another customer) subscribes to the customer's
//     bookings by filter with their own JWT. STEP write: the test (the Django side) writes;
//     the flow waits for `expect` = {customer, notifications, provider, services} events.

import {
  change,
  config,
  finish,
  flowName,
  signedIn,
  sleep,
  step,
  subscribed,
  until,
} from './seed_common.mjs'

const SETTLE_MS = 800

/** Booking Events (Customer): bookings where customer_id matches the current user. */
function customerBookings(supabase, userId, seen) {
  return supabase.channel(`bookings-changes-${userId}`).on(
    'postgres_changes',
    { event: '*', schema: 'homeser', table: 'bookings', filter: `customer_id=eq.${userId}` },
    (payload) => seen.push(change(payload)),
  )
}

/** Booking Events (Provider): bookings where provider_id matches the current provider. */
function providerBookings(supabase, providerId, seen) {
  return supabase.channel(`provider-bookings-changes-${providerId}`).on(
    'postgres_changes',
    { event: '*', schema: 'homeser', table: 'bookings', filter: `provider_id=eq.${providerId}` },
    (payload) => seen.push(change(payload)),
  )
}

/** Notification Events: notifications where user_id matches the current user. */
function notifications(supabase, userId, seen) {
  return supabase.channel(`notifications-changes-${userId}`).on(
    'postgres_changes',
    { event: '*', schema: 'homeser', table: 'notifications', filter: `user_id=eq.${userId}` },
    (payload) => seen.push(change(payload)),
  )
}

/** Service Status Events: every change to services (unfiltered). */
function services(supabase, seen) {
  return supabase
    .channel('services-changes')
    .on('postgres_changes', { event: '*', schema: 'homeser', table: 'services' }, (payload) =>
      seen.push(change(payload)),
    )
}

async function marketplace() {
  const { customer, provider, snooper, expect } = config
  const seen = { customer: [], notifications: [], provider: [], services: [], snooper: [] }
  const customerApp = await signedIn(customer.token)
  const providerApp = await signedIn(provider.token)
  const snooperApp = await signedIn(snooper.token)
  const channels = [
    customerBookings(customerApp, customer.id, seen.customer),
    notifications(customerApp, customer.id, seen.notifications),
    services(customerApp, seen.services),
    providerBookings(providerApp, provider.id, seen.provider),
    // someone else's bookings, asked for by filter with the snooper's own JWT: RLS says no
    customerBookings(snooperApp, customer.id, seen.snooper),
    notifications(snooperApp, customer.id, seen.snooper),
  ]
  const statuses = await Promise.all(channels.map((ch) => subscribed(ch)))
  await step('write')
  await until(
    () => `events ${JSON.stringify(expect)}, got ${JSON.stringify(seen)}`,
    () =>
      seen.customer.length >= expect.customer &&
      seen.notifications.length >= expect.notifications &&
      seen.provider.length >= expect.provider &&
      seen.services.length >= expect.services,
  )
  await sleep(SETTLE_MS)
  finish({ statuses, ...seen })
}

const flows = { marketplace }
if (!(flowName in flows)) {
  process.stderr.write(`unknown flow ${flowName}; choose from ${Object.keys(flows)}\n`)
  process.exit(2)
}
await flows[flowName]()
