// enterpriseUpdates: the viewer's certification orders, join requests and
// memberships change (and, in an enterprise space they administer, the
// console). Pages read again on any update, once per burst.
import { onBeforeUnmount, onMounted } from 'vue'
import { operation } from '../api/client'
import { subscriptions } from '../api/ws'

export interface EnterpriseLiveUpdate {
  kind: string
  id: number
  enterpriseId: string | null
}

const EnterpriseUpdatesSubscription = operation<{ enterpriseUpdates: EnterpriseLiveUpdate }>(
  'EnterpriseUpdates',
  'subscription EnterpriseUpdates { enterpriseUpdates { kind id enterpriseId } }',
)

/** useEnterpriseUpdates calls reload (at most every 300 ms) while the page is mounted. */
export function useEnterpriseUpdates(reload: (u: EnterpriseLiveUpdate) => void): void {
  let stop: (() => void) | null = null
  let pending: ReturnType<typeof setTimeout> | undefined
  onMounted(() => {
    stop = subscriptions().subscribe(EnterpriseUpdatesSubscription, undefined, {
      next: (d) => {
        clearTimeout(pending)
        pending = setTimeout(() => reload(d.enterpriseUpdates), 300)
      },
    })
  })
  onBeforeUnmount(() => {
    stop?.()
    clearTimeout(pending)
  })
}
