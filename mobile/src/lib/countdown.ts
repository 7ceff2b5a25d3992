// The resend countdown of an SMS code button. It counts against the wall
// clock, not ticks, so a phone that suspends the tab shows the right number
// when it wakes up.

export interface Clock {
  now(): number
  setInterval(fn: () => void, ms: number): unknown
  clearInterval(handle: unknown): void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
}

export interface Countdown {
  /** Seconds left, 0 when idle. */
  readonly remaining: number
  /** Starts (or restarts) counting down from seconds. */
  start(seconds: number): void
  stop(): void
}

export function createCountdown(onChange: (remaining: number) => void, clock: Clock = systemClock): Countdown {
  let end = 0
  let handle: unknown = null
  let remaining = 0

  const update = () => {
    const left = Math.max(0, Math.ceil((end - clock.now()) / 1000))
    if (left !== remaining) {
      remaining = left
      onChange(left)
    }
    if (left === 0) stop()
  }
  const stop = () => {
    if (handle !== null) clock.clearInterval(handle)
    handle = null
    end = 0
    if (remaining !== 0) {
      remaining = 0
      onChange(0)
    }
  }

  return {
    get remaining() {
      return remaining
    },
    start(seconds) {
      stop()
      if (!(seconds > 0)) return
      end = clock.now() + Math.ceil(seconds) * 1000
      update()
      handle = clock.setInterval(update, 250)
    },
    stop,
  }
}

/** The SMS button's label for a countdown state. */
export function sendCodeLabel(remaining: number, sentBefore: boolean): string {
  if (remaining > 0) return `${remaining}秒后重新获取`
  return sentBefore ? '重新获取' : '获取验证码'
}
