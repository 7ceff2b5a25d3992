import { describe, expect, it } from 'vitest'
import { createTokenStore, TOKEN_KEY, type KeyValueStorage } from './token'

function memoryStorage(): KeyValueStorage & { data: Map<string, string> } {
  const data = new Map<string, string>()
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  }
}

function brokenStorage(): KeyValueStorage {
  const fail = () => {
    throw new DOMException('denied', 'SecurityError')
  }
  return { getItem: fail, setItem: fail, removeItem: fail }
}

describe('token store', () => {
  it('keeps the token in storage under signet.token', () => {
    const storage = memoryStorage()
    const store = createTokenStore(storage)
    expect(store.get()).toBeNull()
    store.set('t1')
    expect(storage.data.get(TOKEN_KEY)).toBe('t1')
    expect(createTokenStore(storage).get()).toBe('t1') // a reload finds it
    store.clear()
    expect(storage.data.has(TOKEN_KEY)).toBe(false)
    expect(store.get()).toBeNull()
  })

  it('tells subscribers about changes, once per change', () => {
    const store = createTokenStore(memoryStorage())
    const seen: (string | null)[] = []
    const off = store.subscribe((t) => seen.push(t))
    store.set('a')
    store.set('a')
    store.set('b')
    store.clear()
    store.clear()
    off()
    store.set('c')
    expect(seen).toEqual(['a', 'b', null])
  })

  it('notices another tab\'s login and logout through the storage event', () => {
    const storage = memoryStorage()
    const store = createTokenStore(storage)
    const seen: (string | null)[] = []
    store.subscribe((t) => seen.push(t))
    storage.data.set(TOKEN_KEY, 'other-tab')
    store.external('unrelated')
    store.external(TOKEN_KEY)
    storage.data.clear()
    store.external(null) // localStorage.clear() elsewhere
    expect(seen).toEqual(['other-tab', null])
  })

  it('falls back to memory when storage refuses', () => {
    const store = createTokenStore(brokenStorage())
    store.set('t')
    expect(store.get()).toBe('t')
    store.clear()
    expect(store.get()).toBeNull()
    const none = createTokenStore(null)
    none.set('x')
    expect(none.get()).toBe('x')
  })

  it('refuses an empty token', () => {
    expect(() => createTokenStore(memoryStorage()).set('')).toThrow()
  })
})
