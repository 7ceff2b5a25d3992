// The UKey side of the end-to-end tests: a server started for the UKey
// files (no captcha hook, its own log), the stand-in personal UKey (a SoftHSM
// token from ukey/ukeytest/ukeytoken) and the helper bin/signet-ukey.
import { execFileSync, spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { freePort, mobileDir, outDir, sleep, waitFor } from './harness.mjs'

const repo = resolve(mobileDir, '..')
export const SIGNET_BIN = process.env.SIGNET_BIN ?? join(repo, 'bin/signet')
export const HELPER_BIN = process.env.SIGNET_UKEY_BIN ?? join(repo, 'bin/signet-ukey')

/** spawnLogged starts a process whose output goes to test-output/e2e/<name>.log and to `out`. */
export function spawnLogged(name, bin, args, env) {
  const log = createWriteStream(join(outDir, `${name}.log`))
  const proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  const state = { out: '', exited: null }
  for (const s of [proc.stdout, proc.stderr]) {
    s.on('data', (b) => {
      state.out += b.toString()
      log.write(b)
    })
  }
  const killOnExit = () => proc.kill('SIGKILL')
  process.once('exit', killOnExit)
  proc.on('exit', (code, signal) => {
    state.exited = { code, signal }
    process.removeListener('exit', killOnExit)
  })
  state.stop = async () => {
    if (state.exited === null) {
      proc.kill('SIGTERM')
      for (let i = 0; i < 50 && state.exited === null; i++) await sleep(100)
      if (state.exited === null) proc.kill('SIGKILL')
    }
  }
  return state
}

/** requireUKeyBinaries fails when bin/signet or bin/signet-ukey is missing, saying which make target builds it. */
export function requireUKeyBinaries() {
  for (const [bin, how] of [[SIGNET_BIN, 'make build'], [HELPER_BIN, 'make ukey']]) {
    if (!existsSync(bin)) throw new Error(`e2e: ${bin} is missing: run \`${how}\` first.`)
  }
}

/**
 * startSignet runs `signet serve` in development mode on a free port with
 * its data in `data`, logging to test-output/e2e/<logName>.log, and resolves
 * with { base, data, stop } once /readyz answers.
 */
export async function startSignet(logName, data) {
  mkdirSync(outDir, { recursive: true })
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const s = spawnLogged(logName, SIGNET_BIN, ['serve', '--addr', `127.0.0.1:${port}`, '--data', data], {
    SIGNET_MODE: 'development',
    SIGNET_BASE_URL: base,
  })
  try {
    await waitFor('signet /readyz', async () => {
      if (s.exited) throw new Error(`e2e: signet exited: ${s.out}`)
      try {
        return (await fetch(`${base}/readyz`)).ok
      } catch {
        return false
      }
    }, 30_000)
  } catch (e) {
    await s.stop()
    throw e
  }
  return { base, data, stop: s.stop }
}

/**
 * personalUKey makes a stand-in personal UKey in dir: keys by pkcs11-tool and
 * a personal certificate for name and idNumber from the server's CA
 * (ukey/ukeytest/ukeytoken). It returns the token's { module, conf, pin, serial, … }.
 */
export function personalUKey(server, dir, name, idNumber) {
  if (!server.data) throw new Error('e2e: the UKey cases need the server’s data folder (not with SIGNET_E2E_BASE)')
  const out = execFileSync('go', ['run', './ukey/ukeytest/ukeytoken', '--dir', dir, '--data', server.data, '--base-url', server.base, '--name', name, '--id-number', idNumber],
    { cwd: repo, encoding: 'utf8' })
  return JSON.parse(out)
}

/**
 * startHelper runs bin/signet-ukey on 127.0.0.1:port for origin with the
 * token's PKCS#11 module (SOFTHSM2_CONF conf), confirming with --yes and
 * reading the PIN from pinFile, logging to test-output/e2e/<logName>.log;
 * it resolves once the helper says 已启动.
 */
export async function startHelper(logName, { port, origin, module, conf, pinFile }) {
  const helper = spawnLogged(logName, HELPER_BIN, ['--addr', `127.0.0.1:${port}`, '--origin', origin, '--module', module,
    '--pairings', '', '--yes', '--pin-file', pinFile], { SOFTHSM2_CONF: conf })
  try {
    await waitFor('helper start', () => helper.out.includes('已启动'))
  } catch (e) {
    await helper.stop()
    throw e
  }
  return helper
}
