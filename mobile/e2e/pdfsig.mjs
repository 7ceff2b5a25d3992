// pdfsigCheck runs poppler's pdfsig over a PDF, trusting the server's
// platform root (GET /pki/root-ca.pem) through a throwaway NSS database, as
// the Go tests do (flows/complete_test.go checkPdfsig). Debian packages
// poppler-utils (pdfsig) and libnss3-tools (certutil); without them it
// returns null and the caller skips the check.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

function installed(bin) {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * pdfsigCheck returns { valid, invalid, digestMismatch, out }: how many
 * signatures pdfsig found valid and not, whether it reported a digest
 * mismatch, and its output — or null when pdfsig or certutil is missing.
 */
export async function pdfsigCheck(base, pdf) {
  if (!installed('pdfsig') || !installed('certutil')) return null
  const dir = mkdtempSync(join(tmpdir(), 'signet-pdfsig-'))
  try {
    const root = await fetch(`${base}/pki/root-ca.pem`)
    if (!root.ok) throw new Error(`e2e: GET /pki/root-ca.pem: ${root.status}`)
    writeFileSync(join(dir, 'root.pem'), Buffer.from(await root.arrayBuffer()))
    const nss = join(dir, 'nss')
    mkdirSync(nss)
    execFileSync('certutil', ['-N', '-d', `sql:${nss}`, '--empty-password'])
    execFileSync('certutil', ['-A', '-d', `sql:${nss}`, '-n', 'root', '-t', 'CT,C,C', '-i', join(dir, 'root.pem')])
    const file = join(dir, 'file.pdf')
    writeFileSync(file, pdf)
    let out
    try {
      out = execFileSync('pdfsig', ['-nssdir', `sql:${nss}`, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (e) {
      // pdfsig exits non-zero when a signature does not validate.
      out = `${e.stdout ?? ''}${e.stderr ?? ''}`
    }
    const count = (s) => out.split(s).length - 1
    return {
      valid: count('Signature Validation: Signature is Valid.'),
      invalid: count('Signature Validation: Signature is Invalid.'),
      digestMismatch: out.includes('Digest Mismatch'),
      out,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
