import { onBeforeUnmount, ref, watch, type Ref } from 'vue'
import { HeartbeatSubscription } from '../api/operations'
import { subscriptions, type ConnectionState } from '../api/ws'

/**
 * useLiveStatus keeps a heartbeat subscription open while enabled and
 * reports the socket's state, so the PC shell can show whether live updates
 * (signing progress, QR handwriting) will arrive.
 */
export function useLiveStatus(enabled: Ref<boolean>) {
  const state = ref<ConnectionState>('idle')
  let stop: (() => void) | null = null

  const close = () => {
    stop?.()
    stop = null
  }
  const open = () => {
    close()
    const subs = subscriptions()
    const offState = subs.onState((s) => {
      state.value = s
    })
    const unsubscribe = subs.subscribe(HeartbeatSubscription, { intervalSeconds: 30 }, {
      next: () => {},
      error: (err) => console.warn(`[live] ${err.code}: ${err.detail ?? err.message}`),
    })
    stop = () => {
      unsubscribe()
      offState()
      state.value = 'idle'
    }
  }

  watch(enabled, (on) => (on ? open() : close()), { immediate: true })
  onBeforeUnmount(close)
  return { state }
}
