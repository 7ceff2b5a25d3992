// Binding an enterprise's UKey to its custody record (企业控制台 → 证书管理,
// ENT-1) with proof of possession (docs/ukey.md): createUKeyBindChallenge
// checks the chosen certificate as the binding will — a certificate the
// server refuses never reaches the helper, so no PIN is typed for it — and
// returns a single-use challenge for this administrator and record; the
// helper (证书应用环境) shows what is signed, takes the PIN in its own window
// and signs the challenge with the certificate's key on the token;
// bindUKeyCertificate sends the certificate, the nonce and the signature.
import { toApiError } from './errors'
import { consoleApi, type BindUKeyCertificateInput, type ConsoleCertificate } from './enterprise'
import { HelperError, type CertificateChallenge, type HelperConnection, type TokenCertificate } from './ukey'

/** What bindEnterpriseUKey needs: the two server calls and the helper's signature. */
export interface UKeyBindSteps {
  challenge: (id: string, certificate: string) => Promise<CertificateChallenge>
  sign: (fingerprint: string, challengeText: string) => Promise<{ signature: string }>
  bind: (input: BindUKeyCertificateInput) => Promise<ConsoleCertificate>
}

/** Where a binding is: the server checks the certificate, the helper waits for the user, the server binds. */
export type UKeyBindPhase = 'checking' | 'signing' | 'binding'

/** The steps with the real server and a paired helper. */
export function ukeyBindSteps(helper: HelperConnection): UKeyBindSteps {
  return {
    challenge: consoleApi.createUKeyBindChallenge,
    sign: (fingerprint, text) => helper.signChallenge(fingerprint, text),
    bind: consoleApi.bindUKeyCertificate,
  }
}

/**
 * bindEnterpriseUKey binds cert (a certificate on the plugged-in token) to
 * the custody record id: challenge, the helper's signature with the
 * certificate's key, then the binding. It rejects with the server's
 * ApiError or the helper's HelperError (declined, wrong PIN, UKey removed,
 * helper gone), whose messages are shown as they are.
 */
export async function bindEnterpriseUKey(
  steps: UKeyBindSteps,
  id: string,
  cert: TokenCertificate,
  onPhase: (p: UKeyBindPhase) => void = () => {},
): Promise<ConsoleCertificate> {
  onPhase('checking')
  const ch = await steps.challenge(id, cert.der)
  onPhase('signing')
  const { signature } = await steps.sign(cert.fingerprint, ch.text)
  if (!signature) throw new HelperError('internal', '证书应用环境没有返回签名，请重试')
  onPhase('binding')
  return steps.bind({ id, certificate: cert.der, nonce: ch.nonce, signature })
}

/** bindErrorMessage is what the dialog shows for a failed binding. */
export function bindErrorMessage(e: unknown): string {
  return e instanceof HelperError ? e.message : toApiError(e).message
}
