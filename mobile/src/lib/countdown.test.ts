import { describe, expect, it } from 'vitest'
import { createCountdown, sendCodeLabel, type Clock } from './countdown'

/** A clock whose time and timers move only when the test says so. */
function fakeClock() {
  let now = 1_700_000_000_000
  let timers: { fn: () => void; ms: number; next: number; id: number }[] = []
  let ids = 0
  const clock: Clock = {
    now: () => now,
    setInterval: (fn, ms) => {
      const t = { fn, ms, next: now + ms, id: ++ids }
      timers.push(t)
      return t.id
    },
    clearInterval: (id) => {
      timers = timers.filter((t) => t.id !== id)
    },
  }
  return {
    clock,
    active: () => timers.length,
    /** advance moves time forward, firing due timers in order. */
    advance(ms: number) {
      const end = now + ms
      for (;;) {
        const due = timers.filter((t) => t.next <= end).sort((a, b) => a.next - b.next)[0]
        if (!due) break
        now = due.next
        due.next += due.ms
        due.fn()
      }
      now = end
    },
    /** jump moves the wall clock without firing timers (a suspended tab). */
    jump(ms: number) {
      now += ms
    },
  }
}

describe('createCountdown', () => {
  it('counts down each second from the server\'s resendAfterSeconds and stops at 0', () => {
    const c = fakeClock()
    const seen: number[] = []
    const cd = createCountdown((n) => seen.push(n), c.clock)
    cd.start(60)
    expect(cd.remaining).toBe(60)
    c.advance(1000)
    expect(cd.remaining).toBe(59)
    c.advance(58_000)
    expect(cd.remaining).toBe(1)
    c.advance(1000)
    expect(cd.remaining).toBe(0)
    expect(c.active()).toBe(0)
    expect(seen).toEqual(Array.from({ length: 61 }, (_, i) => 60 - i))
  })

  it('follows the wall clock when the tab was asleep', () => {
    const c = fakeClock()
    const cd = createCountdown(() => {}, c.clock)
    cd.start(60)
    c.jump(45_000)
    c.advance(250)
    expect(cd.remaining).toBe(15)
    c.jump(100_000)
    c.advance(250)
    expect(cd.remaining).toBe(0)
    expect(c.active()).toBe(0)
  })

  it('restarts and stops, reporting 0 once', () => {
    const c = fakeClock()
    const seen: number[] = []
    const cd = createCountdown((n) => seen.push(n), c.clock)
    cd.start(3)
    c.advance(1000)
    cd.start(5)
    expect(c.active()).toBe(1)
    expect(cd.remaining).toBe(5)
    cd.stop()
    expect(cd.remaining).toBe(0)
    expect(c.active()).toBe(0)
    expect(seen).toEqual([3, 2, 0, 5, 0])
  })

  it('ignores a zero or negative start', () => {
    const c = fakeClock()
    const cd = createCountdown(() => {}, c.clock)
    cd.start(0)
    cd.start(-5)
    expect(cd.remaining).toBe(0)
    expect(c.active()).toBe(0)
  })

  it('rounds a fractional wait up', () => {
    const c = fakeClock()
    const cd = createCountdown(() => {}, c.clock)
    cd.start(1.2)
    expect(cd.remaining).toBe(2)
  })
})

describe('sendCodeLabel', () => {
  it('names each state of the button', () => {
    expect(sendCodeLabel(0, false)).toBe('获取验证码')
    expect(sendCodeLabel(42, true)).toBe('42秒后重新获取')
    expect(sendCodeLabel(0, true)).toBe('重新获取')
  })
})
