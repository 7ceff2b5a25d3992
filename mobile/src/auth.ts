// The signed-in state of this page: the token (in storage) and the user it
// belongs to, loaded on demand. Pages call signIn after a login mutation and
// signOut to leave; a token the server refuses is dropped by the API client
// and the router sends the person to 登录.
import { reactive, readonly } from 'vue'
import type { AuthPayload, Me } from './api/operations'
import { accountsApi } from './api/operations'
import { tokens } from './api/token'

const state = reactive({
  token: tokens.get(),
  me: null as Me | null,
})

let loading: Promise<Me> | null = null

tokens.subscribe((token) => {
  state.token = token
  state.me = null
  loading = null
})

export const auth = readonly(state)

export function isSignedIn(): boolean {
  return state.token !== null
}

/** loadMe fetches the current user once per token; reload forces a fetch. */
export function loadMe(reload = false): Promise<Me> {
  if (state.me && !reload) return Promise.resolve(state.me)
  if (loading && !reload) return loading
  const token = state.token
  const p = accountsApi.me().then((me) => {
    if (state.token === token) state.me = me
    return me
  })
  loading = p
  p.catch(() => {
    if (loading === p) loading = null
  })
  return p
}

export function setMe(me: Me): void {
  state.me = me
}

export function signIn(payload: AuthPayload): void {
  tokens.set(payload.token)
  state.me = payload.user
}

/** signOut ends the session on the server (best effort) and forgets the token. */
export async function signOut(): Promise<void> {
  try {
    if (state.token) await accountsApi.logout()
  } catch {
    // The session may already be gone; the token is dropped either way.
  } finally {
    tokens.clear()
  }
}
