// The bearer token lives in localStorage so a login survives reloads and
// new tabs. Where storage is unavailable (some private modes throw on
// access) the token is kept in memory for this page's life.

/** The storage key; the placeholder page used the same one. */
export const TOKEN_KEY = 'signet.token'

type Listener = (token: string | null) => void

/** Minimal Storage shape, so tests can pass a fake. */
export interface KeyValueStorage {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
  removeItem(key: string): void
}

export interface TokenStore {
  get(): string | null
  set(token: string): void
  clear(): void
  /** Calls fn whenever the token changes, here or in another tab. */
  subscribe(fn: Listener): () => void
  /** Call when another tab changed the storage (the window "storage" event). */
  external(key: string | null): void
}

export function createTokenStore(storage: KeyValueStorage | null): TokenStore {
  let memory: string | null = null
  let usable = storage !== null
  const listeners = new Set<Listener>()

  const read = (): string | null => {
    if (usable && storage) {
      try {
        return storage.getItem(TOKEN_KEY)
      } catch {
        usable = false
      }
    }
    return memory
  }
  const write = (token: string | null) => {
    memory = token
    if (usable && storage) {
      try {
        if (token === null) storage.removeItem(TOKEN_KEY)
        else storage.setItem(TOKEN_KEY, token)
      } catch {
        usable = false
      }
    }
  }
  let last = read()
  const notify = () => {
    const now = read()
    if (now === last) return
    last = now
    for (const fn of listeners) fn(now)
  }

  return {
    get: read,
    set(token) {
      if (token === '') throw new Error('empty token')
      write(token)
      notify()
    },
    clear() {
      write(null)
      notify()
    },
    subscribe(fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
    external(key) {
      if (key === null || key === TOKEN_KEY) notify()
    },
  }
}

function browserStorage(): KeyValueStorage | null {
  try {
    return typeof window !== 'undefined' ? window.localStorage : null
  } catch {
    return null
  }
}

/** The page's token store. */
export const tokens: TokenStore = createTokenStore(browserStorage())

if (typeof window !== 'undefined') {
  window.addEventListener('storage', (e) => tokens.external(e.key))
}
