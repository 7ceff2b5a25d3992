// Which input of a form an API error belongs to.
import type { ApiError } from '../api/errors'

/**
 * fieldFor returns the form field that shows err: the server's
 * extensions.field when the form has it (directly or through aliases, for
 * forms whose inputs are named differently from the API's), else null and
 * the message belongs to the whole form.
 */
export function fieldFor<F extends string>(
  err: ApiError,
  fields: readonly F[],
  aliases: Partial<Record<string, F>> = {},
): F | null {
  if (!err.field) return null
  const aliased = aliases[err.field]
  if (aliased) return aliased
  return (fields as readonly string[]).includes(err.field) ? (err.field as F) : null
}
