import { reactive, ref, watch } from 'vue'
import { toApiError, type ApiError } from '../api/errors'
import { fieldFor } from '../lib/form-errors'

export type Validator = () => string | null

/**
 * useForm keeps a form's per-field messages and its form-wide message, and
 * runs submissions: client checks first (mirrors of the server's rules),
 * then the call, whose errors land on the field the server named.
 */
export interface FormOptions<F extends string> {
  /**
   * The form's values: typing into a field clears its message at once, so
   * the message does not vanish on blur and move the button under a click.
   */
  values?: Partial<Record<F, unknown>>
  /** API field names that this form shows under another field. */
  aliases?: Partial<Record<string, F>>
}

export function useForm<F extends string>(fields: readonly F[], opts: FormOptions<F> = {}) {
  const aliases = opts.aliases ?? {}
  // Typed as a plain record: Vue's Reactive<> of a generic key set cannot be indexed by F.
  const errors = reactive(Object.fromEntries(fields.map((f) => [f, '']))) as Record<F, string>
  const formError = ref('')
  const submitting = ref(false)

  const values = opts.values
  if (values) {
    for (const f of fields) {
      if (!(f in values)) continue
      watch(
        () => values[f],
        (v) => {
          // Not on emptying: a refreshed captcha empties its answer right
          // after the server's message about the old one arrived.
          if (v !== '') errors[f] = ''
        },
      )
    }
  }

  const clear = () => {
    for (const f of fields) errors[f] = ''
    formError.value = ''
  }

  /** check runs one field's validator and shows its message; true when valid. */
  const check = (field: F, validate: Validator): boolean => {
    const msg = validate()
    errors[field] = msg ?? ''
    return msg === null
  }

  /** fail shows an error where it belongs and returns it as an ApiError. */
  const fail = (e: unknown, aliasesNow: Partial<Record<string, F>> = {}): ApiError => {
    const err = toApiError(e)
    if (err.detail) console.warn(`[api] ${err.code}: ${err.detail}`)
    const field = fieldFor(err, fields, { ...aliases, ...aliasesNow })
    if (field) errors[field] = err.message
    else formError.value = err.message
    return err
  }

  /**
   * submit validates every given field (all messages at once), then runs
   * action unless one failed or a submission is under way. Returns whether
   * action succeeded.
   */
  const submit = async (checks: Partial<Record<F, Validator>>, action: () => Promise<void>): Promise<boolean> => {
    if (submitting.value) return false
    clear()
    let ok = true
    for (const [f, v] of Object.entries(checks) as [F, Validator][]) {
      if (!check(f, v)) ok = false
    }
    if (!ok) return false
    submitting.value = true
    try {
      await action()
      return true
    } catch (e) {
      fail(e)
      return false
    } finally {
      submitting.value = false
    }
  }

  return { errors, formError, submitting, clear, check, fail, submit }
}
